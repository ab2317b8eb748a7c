"""FER2013 in the Kaggle ``fer2013.csv`` format (plain or gzip), and FER+ votes joined to it.

Format: header ``emotion,pixels,Usage``; each row is an emotion 0-6, 2,304
space-separated grey values 0-255 (a 48x48 image, row-major) and a split name.

Parsing has two paths. The fast one replaces commas with spaces and lets
Arrow's multithreaded CSV reader parse the 2,306 integer columns of each row.
When it fails, the careful one reads row by row and raises a DatasetError that
names the file, the row and what is wrong (or parses what the fast one could
not, such as quoted pixel strings).
"""

import csv
import io
from pathlib import Path

import numpy as np

from fer_core.config import CLASSIFICATION, FER2013_EMOTIONS, FERPLUS_EMOTIONS, FERPLUS_VOTE_COLUMNS
from fer_core.errors import DatasetError, file_problem, printable
from fer_core.data.base import Dataset
from fer_core.data.cache import cached

SIDE = 48
N_PIXELS = SIDE * SIDE
SPLITS = ("Training", "PublicTest", "PrivateTest")
ROLES = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
COLUMNS = ("emotion", "pixels", "Usage")
SPLITS_SORTED = tuple(sorted(SPLITS))
SORTED_TO_CODE = np.array([SPLITS.index(s) for s in SPLITS_SORTED])


def open_text(path):
    """Returns a binary stream of the file, gunzipped when it is gzip (by its magic number)."""
    import gzip

    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def is_gzip(path):
    """True when the file starts with gzip's magic number."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"\x1f\x8b"
    except OSError as exc:
        raise DatasetError(f"cannot read file ({exc.strerror})", path) from None


def read_text_bytes(path):
    """Returns the (gunzipped) bytes of a file; raises DatasetError when it is unreadable or empty."""
    try:
        with open_text(path) as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"cannot read file ({exc})", path) from None
    if not data.strip():
        raise DatasetError("file is empty", path)
    return data


def _parse_fast(path):
    """Parses the plain Kaggle layout with Arrow; returns None when the file is not exactly that.

    Split on spaces only, a row has 2,304 fields: ``"<emotion>,<p0>"``, the
    pixels p1..p2302 and ``"<p2303>,<Usage>"``. Arrow parses and range-checks
    the middle ones (uint8) on both cores while another thread gunzips.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    with open_text(path) as f:
        header = f.readline().strip().decode("ascii", "replace")
    if header != ",".join(COLUMNS):
        return None
    names = ["first"] + [f"p{i}" for i in range(1, N_PIXELS - 1)] + ["last"]
    types = {name: pa.uint8() for name in names}
    types["first"] = types["last"] = pa.string()
    path = Path(path)
    try:
        source = pa.OSFile(str(path))
        if is_gzip(path):
            source = pa.CompressedInputStream(source, "gzip")
        table = pa_csv.read_csv(
            source,
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 22),
            parse_options=pa_csv.ParseOptions(delimiter=" ", quote_char=False),
            convert_options=pa_csv.ConvertOptions(column_types=types),
        )
        if table.num_rows == 0:
            return None
        first = pc.split_pattern(table.column("first"), ",")
        last = pc.split_pattern(pc.utf8_trim_whitespace(table.column("last")), ",")
        if pc.any(pc.not_equal(pc.list_value_length(first), 2)).as_py() or pc.any(
                pc.not_equal(pc.list_value_length(last), 2)).as_py():
            return None
        emotions = pc.cast(pc.list_element(first, 0), pa.int64()).to_numpy()
        pixel_first = pc.cast(pc.list_element(first, 1), pa.uint8()).to_numpy()
        pixel_last = pc.cast(pc.list_element(last, 0), pa.uint8()).to_numpy()
        usage = pc.list_element(last, 1).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, EOFError):
        return None
    codes = np.searchsorted(np.array(SPLITS_SORTED), usage)
    codes = np.clip(codes, 0, len(SPLITS) - 1)
    if (np.array(SPLITS_SORTED)[codes] != usage).any() or emotions.min() < 0 or emotions.max() >= len(
            FER2013_EMOTIONS):
        return None
    columns = [pixel_first] + [table.column(i).to_numpy() for i in range(1, table.num_columns - 1)]
    images = np.stack(columns + [pixel_last], axis=1).reshape(-1, SIDE, SIDE)
    return emotions, images, SORTED_TO_CODE[codes]


def _parse_careful(raw, path):
    """Parses row by row; raises DatasetError at the first problem."""
    text = raw.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise DatasetError(
            f"missing column(s) {', '.join(missing)}; expected header {','.join(COLUMNS)}, "
            f"found {printable(','.join(header)[:200]) or 'nothing'}", path)
    at = {c: header.index(c) for c in COLUMNS}
    emotions, images, codes = [], [], []
    for row_index, row in enumerate(reader):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DatasetError(f"expected {len(header)} fields, got {len(row)}", path, row_index)
        emotion = row[at["emotion"]].strip()
        if not _is_decimal(emotion) or int(emotion) >= len(FER2013_EMOTIONS):
            raise DatasetError(
                f"bad label {emotion!r}: expected an integer 0-{len(FER2013_EMOTIONS) - 1}",
                path, row_index)
        split = row[at["Usage"]].strip()
        if split not in SPLITS:
            raise DatasetError(
                f"unknown split {split!r}: expected one of {', '.join(SPLITS)}", path, row_index)
        tokens = row[at["pixels"]].split()
        if len(tokens) != N_PIXELS:
            raise DatasetError(
                f"wrong pixel count: expected {N_PIXELS} values (48x48), got {len(tokens)}",
                path, row_index)
        bad = next((t for t in tokens if not _is_decimal(t.removeprefix("-"))), None)
        if bad is not None:
            raise DatasetError(f"pixel value {bad!r} is not an integer", path, row_index)
        pixels = np.array([int(t) for t in tokens], dtype=np.int64)
        if pixels.min() < 0 or pixels.max() > 255:
            raise DatasetError("pixel values must lie in 0-255", path, row_index)
        emotions.append(int(emotion))
        images.append(pixels.astype(np.uint8).reshape(SIDE, SIDE))
        codes.append(SPLITS.index(split))
    if not images:
        raise DatasetError("no data rows after the header", path)
    return np.array(emotions), np.stack(images), np.array(codes)


def _is_decimal(text):
    """True for a plain number in ASCII digits ("²" and "٣" are digits to ``str.isdigit``, not here)."""
    return text.isascii() and text.isdecimal()


def parse_fer2013(path):
    """Parses a FER2013 CSV.

    Arguments:
        path: ``fer2013.csv`` or ``fer2013.csv.gz``.

    Returns:
        dict with ``labels`` (int64 N), ``images`` (uint8 N,48,48) and ``split_codes``
        (int64 N, indexes into SPLITS).
    """
    parsed = _parse_fast(path) or _parse_careful(read_text_bytes(path), path)
    emotions, images, codes = parsed
    return {"labels": emotions, "images": images, "split_codes": codes}


def load_fer2013(path, name="fer2013", use_cache=True):
    """Loads a FER2013 CSV as a Dataset (splits Training/PublicTest/PrivateTest).

    Arguments:
        path: the CSV (plain or gzip).
        name: dataset name to record.
        use_cache: read/write the binary cache under FER_CACHE_DIR.

    Returns:
        Dataset; ids are ``fer2013:<row>`` (0-based data row).
    """
    path = Path(path)
    problem = file_problem(path, missing="file not found")
    if problem:
        raise DatasetError(problem, path)
    arrays = cached("fer2013", [path], lambda: parse_fer2013(path)) if use_cache else parse_fer2013(path)
    n = len(arrays["labels"])
    return Dataset(
        name=name,
        task=CLASSIFICATION,
        images=arrays["images"],
        labels=arrays["labels"].astype(np.int64),
        label_names=FER2013_EMOTIONS,
        splits=np.array(SPLITS)[arrays["split_codes"]],
        split_names=SPLITS,
        ids=np.char.add("fer2013:", np.arange(n).astype(str)),
        role_splits=dict(ROLES),
        source=str(path),
    )


def read_ferplus_votes(path):
    """Reads ``fer2013new.csv``.

    Returns:
        (usage array of split names, int votes array (N, 10) in FERPLUS_VOTE_COLUMNS order).
    """
    import pandas as pd

    path = Path(path)
    problem = file_problem(path, missing="file not found")
    if problem:
        raise DatasetError(problem, path)
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot parse CSV ({str(exc).splitlines()[0]})", path) from None
    missing = [c for c in ("Usage", *FERPLUS_VOTE_COLUMNS) if c not in frame.columns]
    if missing:
        raise DatasetError(f"missing column(s) {', '.join(missing)}", path)
    votes = frame[list(FERPLUS_VOTE_COLUMNS)]
    bad = votes.isna().any(axis=1) | (votes < 0).any(axis=1)
    if bad.any():
        raise DatasetError("vote counts must be non-negative integers", path, int(np.flatnonzero(bad)[0]))
    return frame["Usage"].astype(str).to_numpy(), votes.to_numpy(np.int64)


def majority_labels(votes):
    """Majority FER+ label per row; -1 where the majority is unknown or not-a-face.

    Arguments:
        votes: int array (N, 10), columns as FERPLUS_VOTE_COLUMNS.

    Returns:
        int64 array (N,) indexing FERPLUS_EMOTIONS, or -1.
    """
    winner = votes.argmax(axis=1)
    winner[(winner >= len(FERPLUS_EMOTIONS)) | (votes.sum(axis=1) == 0)] = -1
    return winner.astype(np.int64)


def load_ferplus(votes_path, fer2013_path):
    """FER2013 images with FER+ labels: majority label and the vote distribution.

    Rows are joined by position (FER+ image names are not row indexes). Rows whose
    majority is unknown or not-a-face get label -1 and are left out of training
    and evaluation.

    Returns:
        Dataset with 8 classes and ``soft_labels`` (N, 8) vote shares.
    """
    base = load_fer2013(fer2013_path)
    usage, votes = read_ferplus_votes(votes_path)
    if len(usage) != len(base):
        raise DatasetError(
            f"has {len(usage)} rows but {Path(fer2013_path).name} has {len(base)}; "
            "FER+ rows are joined to FER2013 by position", votes_path)
    mismatch = np.flatnonzero(usage != base.splits)
    if len(mismatch):
        raise DatasetError(
            f"Usage {usage[mismatch[0]]!r} differs from FER2013's {base.splits[mismatch[0]]!r}",
            votes_path, int(mismatch[0]))
    emotion_votes = votes[:, :len(FERPLUS_EMOTIONS)].astype(np.float32)
    totals = emotion_votes.sum(axis=1, keepdims=True)
    soft = np.divide(emotion_votes, totals, out=np.zeros_like(emotion_votes), where=totals > 0)
    from dataclasses import replace

    return replace(
        base,
        name="ferplus",
        labels=majority_labels(votes),
        label_names=FERPLUS_EMOTIONS,
        soft_labels=soft,
        source=str(votes_path),
    )
