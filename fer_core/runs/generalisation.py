"""In-distribution accuracy against cross-dataset accuracy, model by model.

Does a model that FER2013's validation split prefers also read faces from another lab (CK+48)?
``generalisation_table`` scores emotion models on a dataset's validation and test splits and on
every image of a cross-dataset check, with labels mapped by name as ``evaluate`` maps them (a
model is scored on the check's images of the classes it knows). Each model is scored on its own
probabilities: run records have no output adjustment, so shipped models are scored the same way
(``evaluate --raw``). One more row averages the probabilities of every model with the same label
names as the first (an ensemble of them all, chosen by no split). ``rank_correlation`` says how
the two orders agree (Spearman's rho, scipy).

Used by ``scripts/cross_dataset_report.py``.

# Example
```python
table = generalisation_table({"emotion": "assets/models/emotion.keras"}, data="fer2013", check="ckplus48")
table[0]   # {"name": "emotion", "val": 0.715, "test": 0.727, "check": 0.658, "check_n": 927, ...}
```
"""

import numpy as np

from fer_core.data import load_dataset
from fer_core.data.base import ALL_SPLITS
from fer_core.errors import ModelError
from fer_core.inference.batch import predict_dataset
from fer_core.inference.runtime import load_model_runner, read_info_file
from fer_core.runs.evaluation import relabel, unknown_class_counts

SPLITS = ("val", "test")
ENSEMBLE = "average of all"


def model_outputs(runner, label_names, datasets):
    """A model's probabilities on several datasets, each relabelled to the model's names.

    Arguments:
        runner: a loaded model (``runtime.load_model_runner``).
        label_names: the model's class names.
        datasets: {key: Dataset}.

    Returns:
        {key: (probabilities (N, C), labels (N,), excluded {class: count})}.
    """
    outputs = {}
    for key, dataset in datasets.items():
        excluded = unknown_class_counts(dataset, label_names)
        mapped = relabel(dataset, label_names)
        outputs[key] = (predict_dataset(runner, mapped), mapped.labels, excluded)
    return outputs


def accuracy(probabilities, labels):
    """Share of rows whose most probable class is the label."""
    return float((np.asarray(probabilities).argmax(axis=1) == np.asarray(labels)).mean()) if len(labels) else 0.0


def table_row(name, label_names, outputs):
    """{"name", "label_names", "val", "test", "check", "check_n", "check_excluded"} from ``model_outputs``'s
    result."""
    row = {"name": name, "label_names": list(label_names)}
    for split in SPLITS:
        if split in outputs:
            probabilities, labels, _ = outputs[split]
            row[split] = accuracy(probabilities, labels)
    probabilities, labels, excluded = outputs["check"]
    row.update(check=accuracy(probabilities, labels), check_n=int(len(labels)), check_excluded=excluded)
    return row


def generalisation_table(models, data="fer2013", check="ckplus48"):
    """Scores emotion models in and out of their training distribution.

    Arguments:
        models: {name: model file (.keras or .tflite)}.
        data: the in-distribution dataset (its validation and test splits).
        check: the cross-dataset check, scored on all its images.

    Returns:
        list of rows (``table_row``), one per model in the given order, then the ensemble row when
        two or more models share the first model's label names.
    """
    full = load_dataset(data)
    datasets = {split: full.subset(split).labelled() for split in SPLITS}
    datasets["check"] = load_dataset(check).subset(ALL_SPLITS).labelled()
    rows, shared, first_names = [], [], None
    for name, path in models.items():
        runner = load_model_runner(path, prefer_tflite=False)
        names = tuple((read_info_file(path) or {}).get("label_names") or ())
        if len(names) != runner.output_size:
            raise ModelError(f"{path}: {runner.output_size} outputs but {len(names)} label names in its info file")
        outputs = model_outputs(runner, names, datasets)
        rows.append(table_row(name, names, outputs))
        first_names = names if first_names is None else first_names
        if names == first_names:
            shared.append(outputs)
    if len(shared) > 1:
        average = {key: (np.mean([outputs[key][0] for outputs in shared], axis=0),) + shared[0][key][1:]
                   for key in shared[0]}
        rows.append(table_row(f"{ENSEMBLE} ({len(shared)})", first_names, average))
    return rows


def rank_correlation(rows, first="val", second="check"):
    """Spearman's rho between two columns of ``generalisation_table``'s single models with the first
    row's label names (models scored against the same labels; not the ensemble row), or None with
    fewer than three of them."""
    from scipy.stats import spearmanr

    singles = [row for row in rows if not row["name"].startswith(ENSEMBLE) and first in row and second in row
               and row["label_names"] == rows[0]["label_names"]]
    if len(singles) < 3:
        return None
    return float(spearmanr([row[first] for row in singles], [row[second] for row in singles]).statistic)
