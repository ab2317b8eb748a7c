"""Run records as the dashboard reads them, and comparisons between runs.

A run record is the folder that ``fer_core.runs.recording.train_run`` writes (its layout
is documented at the top of ``fer_core/training/loop.py``). ``RunRecord.load`` reads
whatever is there, so a run still in progress (no ``metrics.json`` yet, maybe
no ``history.csv``) loads too.

Run folders are looked for under ``assets/runs/`` (shipped) and ``runs/`` (your
own), relative to the project root; ``FER_RUN_ROOTS`` (paths joined by the OS
path separator) replaces that list. Shipped models are looked for in
``assets/models/`` (``FER_MODELS_DIR`` replaces it).

Nothing here imports TensorFlow; pandas is imported only where a table is made.
"""

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from fer_core.config import MODEL_CARD_FILENAME, PROJECT_ROOT, models_dir, run_roots
from fer_core.runs.jobs import job_alive, job_error

# A folder is a run record when it holds one of these (job.json: a dashboard job that may have failed
# before it wrote anything else, shown so that its error is seen).
RUN_MARKERS = ("config.json", "state.json", "model_info.json", "metrics.json", "job.json")
MS_PER_FACE_KEYS = ("ms_per_face", "latency_ms", "ms_per_image")


def _read_json(path):
    """Reads a JSON file; None when it is absent or not (yet) valid JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _read_text(path):
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


@dataclass
class RunRecord:
    """One run record folder, read tolerantly.

    Attributes:
        path: the run folder.
        config: config.json ({} when absent).
        state: state.json ({} before the first epoch has finished).
        metrics: metrics.json, or None while the run is in progress.
        model_info: model_info.json ({} when absent).
        summary_text: summary.txt ("" when absent).
        card_text: model_card.md, written by ``python -m fer_core card`` ("" when absent).
        job: job.json written by ``fer_core.runs.jobs`` when the dashboard started the run ({} otherwise).
    """

    path: Path
    config: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)
    metrics: dict = None
    model_info: dict = field(default_factory=dict)
    summary_text: str = ""
    card_text: str = ""
    job: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path):
        """Reads a run folder.

        Arguments:
            path: the run folder.

        Returns:
            RunRecord.

        Raises:
            FileNotFoundError: the folder does not exist.
        """
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: run folder not found")
        return cls(
            path=path,
            config=_read_json(path / "config.json") or {},
            state=_read_json(path / "state.json") or {},
            metrics=_read_json(path / "metrics.json"),
            model_info=_read_json(path / "model_info.json") or {},
            summary_text=_read_text(path / "summary.txt"),
            card_text=_read_text(path / MODEL_CARD_FILENAME),
            job=_read_json(path / "job.json") or {},
        )

    @property
    def name(self):
        """The folder name."""
        return self.path.name

    @property
    def label(self):
        """A short label: see ``run_label``."""
        return run_label(self.path)

    def _job_option(self, name):
        """An option of the dashboard job's command (``--model`` ...), for a run that failed before config.json."""
        argv = list(self.job.get("argv") or [])
        return argv[argv.index(name) + 1] if name in argv[:-1] else None

    @property
    def model_name(self):
        return self.config.get("model") or self.model_info.get("model") or self._job_option("--model") or "?"

    @property
    def dataset_name(self):
        return self.config.get("data") or self.model_info.get("dataset") or self._job_option("--data") or "?"

    @property
    def task(self):
        """``classification`` or ``keypoints`` (from model_info, then from the metrics)."""
        if self.model_info.get("task"):
            return self.model_info["task"]
        if self.metrics and "rmse" in self.metrics:
            return "keypoints"
        return "classification"

    @property
    def label_names(self):
        names = self.model_info.get("label_names")
        if names:
            return tuple(names)
        return tuple((self.metrics or {}).get("per_class", {}))

    @property
    def finished(self):
        """True once metrics.json has been written (the run is evaluated)."""
        return self.metrics is not None

    @property
    def epochs_done(self):
        return int(self.state.get("epoch") or 0)

    @property
    def epochs_planned(self):
        return int(self.config.get("epochs") or self._job_option("--epochs") or 0)

    @property
    def status(self):
        """``finished``, ``stopped early``, ``failed`` (started from the dashboard, its process ended
        with an error: see ``error``), ``stopped`` (its process gone before the run finished: it can be
        resumed), ``in progress`` or ``starting``."""
        if self.finished:
            return "stopped early" if self.state.get("stopped_early") else "finished"
        if self.job and not job_alive(self.job):
            return "failed" if self.error else "stopped"
        return "in progress" if self.epochs_done else "starting"

    @cached_property
    def error(self):
        """Why the dashboard job of an unfinished run failed (``jobs.job_error``), or None."""
        return None if self.finished or not self.job else job_error(self.path, self.job)

    @property
    def model_path(self):
        """model.keras, or None while no epoch has improved yet."""
        path = self.path / "model.keras"
        return path if path.is_file() else None

    @property
    def model_size_bytes(self):
        path = self.model_path
        return path.stat().st_size if path else None

    @property
    def params(self):
        value = self.model_info.get("params")
        return int(value) if value is not None else None

    @property
    def ms_per_face(self):
        """Inference time per face when some file of the run recorded it, else None."""
        for source in (self.metrics or {}, self.model_info, _read_json(self.path / "benchmark.json") or {}):
            for key in MS_PER_FACE_KEYS:
                if source.get(key) is not None:
                    return float(source[key])
        return None

    @cached_property
    def history(self):
        """history.csv as a DataFrame (one row per finished epoch; empty before the first)."""
        import pandas as pd

        path = self.path / "history.csv"
        try:
            frame = pd.read_csv(path)
        except (OSError, ValueError):
            frame = pd.DataFrame(self.state.get("history") or [])
        return frame if "epoch" in frame.columns else pd.DataFrame({"epoch": []})

    def predictions(self):
        """predictions.csv as a DataFrame, or None before the run is evaluated."""
        import pandas as pd

        try:
            return pd.read_csv(self.path / "predictions.csv")
        except (OSError, ValueError):
            return None

    @property
    def confusion_matrix(self):
        """The test-split confusion matrix (rows true, columns predicted) as int array, or None."""
        matrix = (self.metrics or {}).get("confusion_matrix")
        return None if matrix is None else np.asarray(matrix, dtype=np.int64)

    def headline(self):
        """{"accuracy", "macro_f1"} or {"rmse", "nme_interocular"} from the metrics ({} when absent)."""
        keys = ("rmse", "nme_interocular") if self.task == "keypoints" else ("accuracy", "macro_f1")
        return {k: self.metrics[k] for k in keys if self.metrics and self.metrics.get(k) is not None}


def run_label(path):
    """A run folder's short name: relative to the project (``assets/runs/x``, ``runs/y``), else ``parent/name``."""
    path = Path(path)
    try:
        return path.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return f"{path.parent.name}/{path.name}"


def earlier_runs(config, limit=10):
    """The runs whose models a run used, each before the runs that use it: one started with
    ``--init-from RUN/model.keras`` (a warm restart), taught by ``--teacher RUN/model.keras``
    (distillation) or souped from it (``fer_core soup``) grew from RUN, which may itself have grown
    from others.

    Arguments:
        config: the run's config.json as a dict.
        limit: at most this many steps back (a guard against hand-edited files).

    Returns:
        list of (config dict, run folder) of the earlier runs whose config.json is found, each once.
    """
    order, seen = [], set()

    def visit(later, depth):
        sources = ([later["init_from"]] if later.get("init_from") else []) + list(later.get("teachers") or [])
        sources += list((later.get("extra") or {}).get("soup") or [])
        for source in sources:
            folder = Path(source).parent
            if folder.resolve() in seen or depth >= limit:
                continue
            seen.add(folder.resolve())
            earlier = _read_json(folder / "config.json")
            if earlier is not None:
                visit(earlier, depth + 1)
                order.append((earlier, folder))

    visit(config, 0)
    return order


def _looks_like_run(folder):
    return any((folder / marker).is_file() for marker in RUN_MARKERS)


def find_runs(roots=None, depth=2):
    """Lists the run record folders under the roots.

    Arguments:
        roots: folders to search (default ``run_roots()``); missing ones are skipped.
        depth: how many folder levels below a root to look.

    Returns:
        list of Paths (by root, then by name), each a folder holding config.json, state.json,
        model_info.json or metrics.json.
    """
    found = []
    for root in (run_roots() if roots is None else roots):
        level = [Path(root)] if Path(root).is_dir() else []
        for _ in range(depth):
            children = [c for folder in level for c in sorted(folder.iterdir())
                        if c.is_dir() and not c.name.startswith(".") and c.name not in ("checkpoints", "tensorboard")]
            found += [c for c in children if _looks_like_run(c)]
            level = [c for c in children if not _looks_like_run(c)]
    return list(dict.fromkeys(found))


def load_runs(roots=None):
    """Returns RunRecords of every run folder under the roots (see ``find_runs``)."""
    return [RunRecord.load(path) for path in find_runs(roots)]


def compare_runs(records):
    """One row of headline numbers per run, for a metrics table.

    Arguments:
        records: RunRecords.

    Returns:
        list of dicts with run, model, dataset, status, epochs, accuracy,
        macro_f1, rmse, params, model_size_mb, ms_per_face (None where unknown).
    """
    rows = []
    for record in records:
        metrics = record.metrics or {}
        size = record.model_size_bytes
        rows.append({
            "run": record.label,
            "model": record.model_name,
            "dataset": record.dataset_name,
            "status": record.status,
            "epochs": record.epochs_done,
            "accuracy": metrics.get("accuracy"),
            "macro_f1": metrics.get("macro_f1"),
            "rmse": metrics.get("rmse"),
            "params": record.params,
            "model_size_mb": None if size is None else round(size / 1e6, 3),
            "ms_per_face": record.ms_per_face,
        })
    return rows


def drop_empty_columns(rows):
    """The rows without the keys that are None in every row (e.g. rmse among classifiers)."""
    keys = [k for k in dict.fromkeys(k for row in rows for k in row) if any(row.get(k) is not None for row in rows)]
    return [{k: row.get(k) for k in keys} for row in rows]


def normalize_rows(matrix):
    """Divides each row of a confusion matrix by its sum (rows that sum to 0 stay 0)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


def confusion_difference(a, b, normalize=True):
    """The confusion matrix of run ``b`` minus that of run ``a``.

    Arguments:
        a, b: RunRecords (or anything with ``label_names`` and ``confusion_matrix``).
        normalize: subtract row-normalised matrices (recall per true class), so that
            runs evaluated on different numbers of faces compare fairly.

    Returns:
        (label_names, float array C x C): positive on the diagonal where b is better.

    Raises:
        ValueError: a run has no confusion matrix, or the label sets differ.
    """
    for record in (a, b):
        if record.confusion_matrix is None:
            raise ValueError(f"{record.label} has no confusion matrix (not a finished classification run)")
    if tuple(a.label_names) != tuple(b.label_names):
        raise ValueError(f"label sets differ: {', '.join(a.label_names)} vs {', '.join(b.label_names)}")
    first, second = a.confusion_matrix, b.confusion_matrix
    if normalize:
        first, second = normalize_rows(first), normalize_rows(second)
    return tuple(a.label_names), np.asarray(second, np.float64) - np.asarray(first, np.float64)


def _flatten(config, prefix=""):
    out = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_diff(records, only_different=True):
    """The config values side by side.

    Arguments:
        records: RunRecords.
        only_different: keep only the keys whose values are not the same in every run.

    Returns:
        list of dicts {"key": KEY, RUN_LABEL: value, ...} (a missing key is None).
    """
    flat = [_flatten(record.config) for record in records]
    keys = list(dict.fromkeys(k for config in flat for k in config))
    rows = []
    for key in keys:
        values = [config.get(key) for config in flat]
        if only_different and all(v == values[0] for v in values):
            continue
        rows.append({"key": key, **{r.label: v for r, v in zip(records, values)}})
    return rows


def curve_names(history):
    """The metrics of a history table that have a train curve: ["loss", "accuracy", ...]."""
    skip = {"epoch", "lr", "seconds"}
    return [c for c in history.columns if c not in skip and not c.startswith("val_")]


def curves_table(records):
    """Long-form training curves of several runs, for overlaid plots.

    Returns:
        DataFrame with columns run, epoch, metric, split (train/val), value.
    """
    import pandas as pd

    parts = []
    for record in records:
        history = record.history
        for metric in curve_names(history):
            for split, column in (("train", metric), ("val", f"val_{metric}")):
                if column in history.columns:
                    parts.append(pd.DataFrame({"run": record.label, "epoch": history["epoch"], "metric": metric,
                                               "split": split, "value": history[column]}))
    if not parts:
        return pd.DataFrame(columns=["run", "epoch", "metric", "split", "value"])
    return pd.concat(parts, ignore_index=True)


def per_class_table(metrics):
    """Per-class precision, recall, F1 and support from metrics.json, None where a score has nothing to
    be computed on: recall and F1 of a class absent from the test split (support 0), precision of a
    class the model never answered (its confusion-matrix column is empty). metrics.json writes 0.0 there.

    Returns:
        list of dicts {"class", "precision", "recall", "f1", "support"} ([] without per-class metrics).
    """
    metrics = metrics or {}
    per_class = metrics.get("per_class", {})
    matrix = metrics.get("confusion_matrix")
    answered = (np.asarray(matrix).sum(axis=0).tolist() if matrix is not None and len(matrix) == len(per_class)
                else [None] * len(per_class))
    rows = []
    for (name, values), predicted in zip(per_class.items(), answered):
        row = {"class": name, **values}
        if not values.get("support"):
            row.update(recall=None, f1=None)
        if predicted == 0:
            row["precision"] = None
        rows.append(row)
    return rows


def with_true_labels(predictions, dataset_ids, dataset_labels, label_names):
    """Joins each prediction to its sample's true label, by id.

    A run record keeps its predictions only: the test labels stay in FER_DATA_DIR
    (run records are committed, the data never is), so they are joined at read time.

    Arguments:
        predictions: predictions.csv of a classification run (id, predicted, confidence, ...).
        dataset_ids: the ids of the dataset's samples.
        dataset_labels: their label indices (-1: no usable label, left out).
        label_names: the dataset's label names.

    Returns:
        a copy of ``predictions`` with a ``label`` column; rows whose id is not a labelled
        sample of the dataset are left out.
    """
    lookup = {str(i): label_names[label] for i, label in zip(dataset_ids, dataset_labels) if label >= 0}
    joined = predictions.assign(label=predictions["id"].astype(str).map(lookup))
    return joined[joined["label"].notna()].reset_index(drop=True)


def most_confident_mistakes(predictions, count=24):
    """The wrong predictions the model was surest of.

    Arguments:
        predictions: predictions of a classification run with their true labels
            (id, label, predicted, confidence, ...; see ``with_true_labels``).
        count: how many.

    Returns:
        DataFrame of at most ``count`` rows, highest confidence first.
    """
    wrong = predictions[predictions["label"] != predictions["predicted"]]
    return wrong.sort_values("confidence", ascending=False, kind="stable").head(count).reset_index(drop=True)


def progress(record):
    """(epochs finished, epochs planned, fraction 0-1) of a run."""
    planned = max(record.epochs_planned, record.epochs_done, 1)
    done = record.epochs_done
    if record.finished:
        return done, planned, 1.0
    return done, planned, min(1.0, done / planned)


def shipped_models(folder=None):
    """The shipped models (``*.keras`` in assets/models) with their model cards.

    Arguments:
        folder: where to look (default ``models_dir()``).

    Returns:
        list of dicts: name, path, size_bytes, card (the info JSON beside the model,
        ``NAME.model_info.json`` as ``python -m fer_core ship`` writes it, or ``NAME.json``;
        {} when absent), card_markdown (path of ``NAME.md`` or None), tflite (the .tflite file
        inference runs, see ``runtime.tflite_path_for``; or None), accuracy / rmse when the card
        or its run record gives them.
    """
    from fer_core.inference.runtime import tflite_path_for  # here: it imports OpenCV, which Home does not need otherwise

    folder = Path(folder) if folder is not None else models_dir()
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.keras")):
        card = _read_json(path.with_name(f"{path.stem}.model_info.json")) or _read_json(path.with_suffix(".json")) or {}
        tflite, markdown = tflite_path_for(path), path.with_suffix(".md")
        out.append({
            "name": path.stem,
            "path": path,
            "size_bytes": path.stat().st_size,
            "card": card,
            "card_markdown": markdown if markdown.is_file() else None,
            "tflite": tflite,
            **card_scores(card),
        })
    return out


def card_scores(card):
    """Test accuracy / RMSE from a model card: its own numbers, else its run record's metrics.json."""
    metrics = card.get("metrics") if isinstance(card.get("metrics"), dict) else {}
    scores = {}
    for key in ("accuracy", "macro_f1", "rmse"):
        value = card.get(key, card.get(f"test_{key}", metrics.get(key)))
        if value is not None:
            scores[key] = value
    run = card.get("run_dir") or card.get("run")
    if not scores and isinstance(run, str):
        run_path = Path(run) if Path(run).is_absolute() else PROJECT_ROOT / run
        run_metrics = _read_json(run_path / "metrics.json") or {}
        scores = {k: run_metrics[k] for k in ("accuracy", "macro_f1", "rmse") if k in run_metrics}
    return scores
