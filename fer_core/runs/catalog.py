"""Which models the Photo and Live pages can run: the shipped ones and every run record that has its
weights, emotion and keypoint models apart, the default first.

A shipped ``NAME.keras`` runs the TFLite file beside it (``runtime_tflite`` of its info file)
through LiteRT; a run record's ``model.keras`` runs through Keras, which loads TensorFlow.
"""

from dataclasses import dataclass
from pathlib import Path

from fer_core.config import CLASSIFICATION, KEYPOINTS, models_dir
from fer_core.inference.runtime import DEFAULT_MODEL_FILES, read_info_file, tflite_path_for

# The two kinds of face model the pages run, and the task each has.
KIND_TASKS = {"emotion": CLASSIFICATION, "keypoints": KEYPOINTS}


@dataclass(frozen=True)
class ModelChoice:
    """One model a page can run.

    Attributes:
        path: the model file to load (``.keras``; the runtime prefers its ``.tflite``).
        name: a short name ("emotion", "run: resnet10-ferplus").
        kind: "emotion" or "keypoints".
        source: "shipped" or "run record".
        default: whether the pages run it when nothing is chosen.
        dataset: what it was trained on ("" when unknown).
        runtime: the file that runs and how ("emotion_int8.tflite (LiteRT int8)", "model.keras (Keras)").
    """

    path: Path
    name: str
    kind: str
    source: str
    default: bool
    dataset: str
    runtime: str

    @property
    def label(self):
        """The choice as a picker shows it."""
        return (f"{self.name}{' (default)' if self.default else ''} — {self.dataset or 'dataset unknown'}, "
                f"runs {self.runtime}")


def runtime_description(path):
    """Which file runs for a model path and how: "NAME.tflite (LiteRT float32 / int8)" or "NAME.keras (Keras)"."""
    tflite = tflite_path_for(path)
    if tflite is not None:
        return f"{tflite.name} (LiteRT {'int8' if tflite.stem.endswith('_int8') else 'float32'})"
    return f"{Path(path).name} (Keras, loads TensorFlow)"


def model_catalog(kind, folder=None, run_records=()):
    """The models of one kind the pages can run, the default first, then shipped, then run records.

    Arguments:
        kind: "emotion" or "keypoints".
        folder: the shipped models' folder (default ``config.models_dir()``).
        run_records: ``records.RunRecord`` objects (e.g. ``records.load_runs()``); those without
            ``model.keras`` (the weights policy) cannot run and are left out.

    Returns:
        list of ``ModelChoice``.
    """
    task = KIND_TASKS[kind]
    folder = Path(folder) if folder is not None else models_dir()
    choices = []
    for path in sorted(folder.glob("*.keras")) if folder.is_dir() else []:
        info = read_info_file(path) or {}
        if info.get("task") == task:
            choices.append(ModelChoice(path, path.stem, kind, "shipped", path.name == DEFAULT_MODEL_FILES[kind],
                                       info.get("dataset", ""), runtime_description(path)))
    for record in run_records:
        if record.model_path is not None and record.model_info.get("task") == task:
            choices.append(ModelChoice(record.model_path, f"run: {record.label}", kind, "run record", False,
                                       record.dataset_name or "", runtime_description(record.model_path)))
    return sorted(choices, key=lambda choice: (not choice.default, choice.source != "shipped"))
