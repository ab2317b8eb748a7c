"""FER2013 and FER+ loading: real counts, the cache, and clear errors on malformed files."""

import gzip
import os
import time

import numpy as np
import pytest

from fer_core.data import load_dataset
from fer_core.data.fer2013 import load_fer2013, majority_labels, parse_fer2013
from fer_core.errors import DatasetError

HEADER = "emotion,pixels,Usage\n"


def _row(emotion=3, pixels=None, usage="Training", n=2304):
    pixels = pixels if pixels is not None else " ".join(str(i % 256) for i in range(n))
    return f"{emotion},{pixels},{usage}\n"


def _write(path, text, gz=False):
    data = text.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_full_fer2013_counts_match_readme(fer2013):
    summary = fer2013.summary()["splits"]
    assert {s: v["total"] for s, v in summary.items()} == {
        "Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}
    assert list(summary["Training"]["labels"].values()) == [3995, 436, 4097, 7215, 4830, 3171, 4965]
    assert list(summary["PublicTest"]["labels"].values()) == [467, 56, 496, 895, 653, 415, 607]
    assert list(summary["PrivateTest"]["labels"].values()) == [491, 55, 528, 879, 594, 416, 626]
    assert fer2013.images.shape == (35887, 48, 48) and fer2013.images.dtype == np.uint8
    assert fer2013.ids[0] == "fer2013:0" and len(set(fer2013.ids)) == 35887


def test_sample_rows_equal_the_same_rows_of_the_full_file(fer2013, data_root):
    sample = load_fer2013(data_root / "fer2013" / "fer2013_sample1000.csv")
    assert np.array_equal(sample.images[:800], fer2013.images[:800])
    assert np.array_equal(sample.labels[:800], fer2013.labels[:800])
    assert np.array_equal(sample.images[800:900], fer2013.images[28709:28809])


def test_first_pixels_golden(fer2013):
    # The first row of the genuine Kaggle file starts "0,70 80 82 72 58 58 60 63 54 58".
    assert fer2013.labels[0] == 0
    assert fer2013.images[0, 0, :10].tolist() == [70, 80, 82, 72, 58, 58, 60, 63, 54, 58]


def test_cache_is_used_then_rebuilt_when_the_source_changes(tmp_path):
    path = _write(tmp_path / "small.csv", HEADER + _row(1) + _row(2, usage="PublicTest") + _row(0, usage="PrivateTest"))
    first = load_fer2013(path)
    cache_files = list((tmp_path.parent).glob("**/fer2013-*.npz")) or list(
        __import__("pathlib").Path(os.environ["FER_CACHE_DIR"]).glob("fer2013-*.npz"))
    assert cache_files, "a cache file is written under FER_CACHE_DIR"
    assert not list(tmp_path.glob("*.npz")), "nothing is written beside the data"
    assert first.labels.tolist() == [1, 2, 0]
    time.sleep(0.01)
    _write(path, HEADER + _row(5) + _row(6, usage="PublicTest") + _row(4, usage="PrivateTest"))
    assert load_fer2013(path).labels.tolist() == [5, 6, 4]


def test_gzip_and_quoted_pixels_are_read(tmp_path):
    plain = _write(tmp_path / "a.csv.gz", HEADER + _row(4) + _row(6, usage="PrivateTest"), gz=True)
    quoted_row = '2,"' + " ".join(["7"] * 2304) + '",PublicTest\n'
    quoted = _write(tmp_path / "b.csv", HEADER + quoted_row)
    assert parse_fer2013(plain)["labels"].tolist() == [4, 6]
    assert parse_fer2013(quoted)["images"][0].max() == 7


MALFORMED = [
    (_row(n=2303), "row 0 (line 2): wrong pixel count: expected 2304 values (48x48), got 2303"),
    (_row() + _row(n=2305), "row 1 (line 3): wrong pixel count: expected 2304 values (48x48), got 2305"),
    (_row(emotion=9), "row 0 (line 2): bad label '9'"),
    (_row(emotion="x"), "row 0 (line 2): bad label 'x'"),
    (_row(usage="Validation"), "row 0 (line 2): unknown split 'Validation'"),
    (_row(pixels=" ".join(["300"] * 2304)), "row 0 (line 2): pixel values must lie in 0-255"),
    (_row(pixels=" ".join(["a"] * 2304)), "row 0 (line 2): pixel value 'a' is not an integer"),
    (_row() + _row(emotion="²"), "row 1 (line 3): bad label '²': expected an integer 0-6"),  # a digit to isdigit()
    (_row(pixels=" ".join(["7"] * 2303 + ["²"])), "row 0 (line 2): pixel value '²' is not an integer"),
]


@pytest.mark.parametrize("rows, message", MALFORMED, ids=[m.split(": ")[1][:20] for _, m in MALFORMED])
def test_malformed_rows_name_file_row_and_problem(tmp_path, rows, message):
    path = _write(tmp_path / "bad.csv", HEADER + rows)
    with pytest.raises(DatasetError) as info:
        load_fer2013(path)
    assert str(info.value).startswith(f"{path}: {message}")


def test_missing_column_empty_file_and_header_only(tmp_path):
    with pytest.raises(DatasetError, match=r"missing column\(s\) Usage"):
        load_fer2013(_write(tmp_path / "a.csv", "emotion,pixels\n3," + " ".join(["1"] * 2304) + "\n"))
    with pytest.raises(DatasetError, match="file is empty"):
        load_fer2013(_write(tmp_path / "b.csv", ""))
    with pytest.raises(DatasetError, match="no data rows"):
        load_fer2013(_write(tmp_path / "c.csv", HEADER))
    with pytest.raises(DatasetError, match="file not found"):
        load_fer2013(tmp_path / "missing.csv")


def test_what_is_not_a_csv_file_is_named(tmp_path):
    (tmp_path / "loop.csv").symlink_to(tmp_path / "loop.csv")
    for path, problem in ((tmp_path / "loop.csv", "a symlink loop"), (tmp_path, "a folder, not a file"),
                          ("/dev/zero", "not a regular file (a character device)")):
        with pytest.raises(DatasetError) as info:
            load_fer2013(path)
        assert str(info.value) == f"{path}: {problem}"


def test_a_bad_header_is_echoed_without_its_control_characters(tmp_path):
    path = _write(tmp_path / "bad.csv", "emotion,\x1b[31mpixels\x1b[0m,Usage\n" + _row())
    with pytest.raises(DatasetError) as info:
        load_fer2013(path)
    assert str(info.value) == (f"{path}: missing column(s) pixels; expected header emotion,pixels,Usage, "
                               "found emotion,\\x1b[31mpixels\\x1b[0m,Usage")
    assert "\x1b" not in str(info.value)


def test_ferplus_majority_labels_and_exclusions(data_root):
    ferplus = load_dataset("ferplus")
    summary = ferplus.summary()["splits"]
    # README: majority histogram over all rows; unknown 222 + NF 177 rows are excluded.
    assert sum(s.get("unlabelled", 0) for s in summary.values()) == 222 + 177
    totals = {name: sum(s["labels"][name] for s in summary.values()) for name in ferplus.label_names}
    assert totals == {"neutral": 12906, "happiness": 9355, "surprise": 4462, "sadness": 4371,
                      "anger": 3111, "fear": 819, "disgust": 248, "contempt": 216}
    labelled = ferplus.labelled()
    assert len(labelled) == 35887 - 399 and (labelled.labels >= 0).all()
    assert np.allclose(labelled.soft_labels.sum(axis=1), 1.0)


def test_majority_labels_golden():
    votes = np.array([[4, 0, 0, 1, 3, 2, 0, 0, 0, 0],    # neutral
                      [0, 0, 0, 0, 0, 0, 0, 0, 6, 4],    # unknown -> excluded
                      [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],   # not a face -> excluded
                      [0, 1, 0, 0, 0, 0, 0, 9, 0, 0]])   # contempt
    assert majority_labels(votes).tolist() == [0, -1, -1, 7]
