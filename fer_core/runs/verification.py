"""Checks that every figure a run record or a shipped model states is what its model gives now.

A run record's ``metrics.json`` holds the test-split figures written when the run finished; the
README's table and the model cards quote them. ``verify_run_record`` evaluates the record's
``model.keras`` again, the way ``python -m fer_core evaluate`` does, and compares; a shipped
model (``assets/models/NAME.keras``) is compared with the run record its info file names.
A run record committed without weights (the README's weights policy) is checked for internal
consistency instead: ``check_consistency`` computes its figure again from its ``predictions.csv``
joined to the dataset's labels or keypoints.

Accuracy may differ by a test image or two between CPUs (float rounding at near-ties decides an
argmax), RMSE by rounding: those are the tolerances.
"""

from dataclasses import asdict, dataclass
from pathlib import Path

from fer_core.storage import read_json

# How each figure was measured again.
EVALUATED = "model evaluated again"
FROM_PREDICTIONS = "from predictions.csv (no weights in git)"

# How far a measured figure may be from the recorded one and still agree.
ACCURACY_TOLERANCE_IMAGES = 2
RMSE_TOLERANCE_PX = 0.002


@dataclass(frozen=True)
class FigureCheck:
    """One recorded figure set against the same figure measured now.

    Attributes:
        name: what was checked (a run folder or a shipped model file).
        data, split: where it was measured.
        metric: "accuracy" or "rmse".
        recorded, measured: the two figures (measured is None when it could not be measured).
        tolerance: the largest difference that still agrees.
        note: why it was not measured, when it was not.
        method: ``EVALUATED`` or ``FROM_PREDICTIONS``.
    """

    name: str
    data: str
    split: str
    metric: str
    recorded: float
    measured: float = None
    tolerance: float = 0.0
    note: str = ""
    method: str = EVALUATED

    @property
    def ok(self):
        """True when measured and within the tolerance of the recorded figure."""
        return self.measured is not None and abs(self.measured - self.recorded) <= self.tolerance + 1e-9

    def as_dict(self):
        return {**asdict(self), "ok": self.ok}


def headline(metrics):
    """The headline figure of a metrics dict: ("accuracy", value) or ("rmse", value).

    Raises:
        ValueError: neither is there.
    """
    for metric in ("accuracy", "rmse"):
        if metrics.get(metric) is not None:
            return metric, float(metrics[metric])
    raise ValueError("the metrics hold neither accuracy nor rmse")


def tolerance_for(metric, n):
    """The tolerance of a figure over ``n`` test samples (see the module's docstring)."""
    return ACCURACY_TOLERANCE_IMAGES / max(int(n), 1) if metric == "accuracy" else RMSE_TOLERANCE_PX


def check_figure(name, data, split, recorded_metrics, measure, method=EVALUATED):
    """Measures a model's headline figure again and sets it against the recorded one.

    Arguments:
        name: what is checked (shown in the report).
        data, split: the dataset and split of the recorded figure.
        recorded_metrics: the recorded metrics dict (``metrics.json``).
        measure: function() -> metrics dict measured now; an error it raises becomes the note.
        method: how ``measure`` measures (``EVALUATED`` or ``FROM_PREDICTIONS``).

    Returns:
        ``FigureCheck``.
    """
    from fer_core.errors import FerStudioError

    metric, recorded = headline(recorded_metrics)
    tolerance = tolerance_for(metric, recorded_metrics.get("n", 1))
    try:
        measured = float(measure()[metric])
    except (FerStudioError, OSError, KeyError) as error:
        return FigureCheck(name, data, split, metric, recorded, None, tolerance, note=str(error), method=method)
    return FigureCheck(name, data, split, metric, recorded, measured, tolerance, method=method)


def check_against_run(name, model_path, run_dir):
    """Evaluates ``model_path`` on the test split of the run record ``run_dir`` and compares with its figure.

    Arguments:
        name: what is checked (shown in the report).
        model_path: the model to evaluate (the run's model.keras, or a shipped copy of it).
        run_dir: the run record whose config.json and metrics.json state the figure.

    Returns:
        ``FigureCheck``.
    """
    from fer_core.runs.evaluation import evaluate_model

    config, metrics = read_json(run_dir / "config.json") or {}, read_json(run_dir / "metrics.json") or {}
    data, split = config.get("data", "?"), metrics.get("split", "test")
    return check_figure(name, data, split, metrics, lambda: evaluate_model(  # raw: as the run recorded it
        model_path, data, split, fold=config.get("fold"), folds=config.get("folds"), raw=True))


def verify_run_record(run_dir):
    """Evaluates a finished run record's ``model.keras`` on its test split and compares.

    Arguments:
        run_dir: a run folder with config.json, metrics.json and model.keras.

    Returns:
        ``FigureCheck``.
    """
    run_dir = Path(run_dir)
    return check_against_run(run_dir.as_posix(), run_dir / "model.keras", run_dir)


def metrics_from_predictions(run_dir):
    """A run record's test metrics computed again from its predictions.csv and the dataset.

    Arguments:
        run_dir: a finished run folder (config.json, metrics.json, model_info.json, predictions.csv).

    Returns:
        the metrics dict (``fer_core.runs.metrics``) of the predictions against the test split's
        labels or keypoints, over the rows whose id is in that split.

    Raises:
        DatasetError: the dataset is missing; ``FerStudioError`` when the predictions do not match it.
    """
    import numpy as np
    import pandas as pd

    from fer_core.config import KEYPOINT_COLUMNS
    from fer_core.data import load_dataset
    from fer_core.errors import FerStudioError
    from fer_core.runs.metrics import classification_metrics, keypoint_metrics

    run_dir = Path(run_dir)
    config, metrics = read_json(run_dir / "config.json") or {}, read_json(run_dir / "metrics.json") or {}
    info = read_json(run_dir / "model_info.json") or {}
    dataset = load_dataset(config["data"], fold=config.get("fold", 0), folds=config.get("folds", 10))
    test = dataset.subset(metrics.get("split") or "test").labelled()
    predictions = pd.read_csv(run_dir / "predictions.csv")
    position = {str(i): k for k, i in enumerate(test.ids)}
    rows = predictions["id"].astype(str).map(position)
    if rows.isna().any():
        raise FerStudioError(f"{run_dir}: {int(rows.isna().sum())} predictions name no sample of the test split")
    rows = rows.to_numpy(int)
    if "rmse_px" in predictions:
        predicted = predictions[[f"pred_{c}" for c in KEYPOINT_COLUMNS]].to_numpy(np.float32).reshape(-1, 15, 2)
        return keypoint_metrics(test.keypoints[rows], predicted)
    names = list(info.get("label_names") or test.label_names)
    index = {name: i for i, name in enumerate(names)}
    truth = np.array([index.get(test.label_names[label], -1) for label in test.labels[rows]])
    predicted = predictions["predicted"].map(index).to_numpy(int)
    return classification_metrics(truth, predicted, names)


def check_consistency(run_dir):
    """Sets a run record's headline figure against the one computed from its predictions.csv.

    For run records committed without ``model.keras``: the model cannot run, but its recorded
    predictions can be scored again against the dataset.

    Returns:
        ``FigureCheck`` (method ``FROM_PREDICTIONS``).
    """
    run_dir = Path(run_dir)
    config, metrics = read_json(run_dir / "config.json") or {}, read_json(run_dir / "metrics.json") or {}
    return check_figure(run_dir.as_posix(), config.get("data", "?"), metrics.get("split", "test"), metrics,
                        lambda: metrics_from_predictions(run_dir), method=FROM_PREDICTIONS)


def verify_shipped_model(model_path):
    """Evaluates a shipped ``NAME.keras`` and compares it with the run record its info file names.

    Returns:
        ``FigureCheck``, or None when the info file names no run record.
    """
    from fer_core.config import PROJECT_ROOT

    model_path = Path(model_path)
    info = read_json(model_path.with_name(f"{model_path.stem}.model_info.json")) or {}
    if not info.get("run"):
        return None
    run_dir = Path(info["run"]) if Path(info["run"]).is_absolute() else PROJECT_ROOT / info["run"]
    return check_against_run(model_path.as_posix(), model_path, run_dir)


def verify_shipped_adjustment(model_path):
    """Evaluates the file a shipped classifier runs, with its output adjustment, against the adjusted
    test figure its info file states (``ship`` records it).

    Returns:
        ``FigureCheck``, or None when the info file states no adjusted figure.
    """
    from fer_core.runs.evaluation import evaluate_model

    model_path = Path(model_path)
    info = read_json(model_path.with_name(f"{model_path.stem}.model_info.json")) or {}
    stated = info.get("adjusted_test")
    if not stated:
        return None
    runtime = model_path.with_name(stated["file"])
    return check_figure(f"{runtime.as_posix()} (adjusted)", stated["data"], stated["split"], stated,
                        lambda: evaluate_model(runtime, stated["data"], stated["split"]))


def finished_run_records(roots):
    """The finished run folders under ``roots`` (metrics.json, and model.keras or predictions.csv), in order."""
    from fer_core.runs.records import find_runs

    return [path for path in find_runs([Path(root) for root in roots]) if (path / "metrics.json").is_file()
            and ((path / "model.keras").is_file() or (path / "predictions.csv").is_file())]


def verify_finished_run(run_dir):
    """``verify_run_record`` when the record has its weights, else ``check_consistency``."""
    run_dir = Path(run_dir)
    return verify_run_record(run_dir) if (run_dir / "model.keras").is_file() else check_consistency(run_dir)
