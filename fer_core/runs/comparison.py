"""Comparing run records the way the Compare runs page shows them: a sensible default selection,
short names, readable columns with units, per-class deltas between two runs, and curves grouped
by task so that a classifier's loss never shares an axis with a keypoint regressor's.
"""

import os
from pathlib import PurePosixPath

import pandas as pd

from fer_core.config import canonical_emotion

KERAS_RUNTIME = "Keras predict_on_batch"
# Colours of runs in the Compare page's charts: 20 that differ at a glance (category10, then its darker kin).
RUN_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
               "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#7b4173", "#3182bd", "#e6550d", "#31a354",
               "#756bb1", "#636363")


def finished_at(record):
    """When a run record last changed (its metrics.json, else history.csv or state.json), as a timestamp."""
    times = [os.path.getmtime(record.path / name) for name in ("metrics.json", "history.csv", "state.json")
             if (record.path / name).is_file()]
    return max(times) if times else 0.0


def default_selection(records, count=3):
    """The most recent finished runs of one task and dataset: those of the most recently finished run.

    Arguments:
        records: ``RunRecord`` objects.
        count: at most this many.

    Returns:
        the chosen records, most recent first (unfinished runs when none has finished).
    """
    pool = [r for r in records if r.finished] or list(records)
    if not pool:
        return []
    pool = sorted(pool, key=finished_at, reverse=True)
    task, data = pool[0].task, pool[0].dataset_name
    return [r for r in pool if (r.task, r.dataset_name) == (task, data)][:count]


def short_names(labels):
    """Short, distinct names for run labels: the folder name, with its parent where two would clash.

    Returns:
        {label: short name}.
    """
    parts = {label: PurePosixPath(label).parts for label in labels}
    names = {label: p[-1] if p else label for label, p in parts.items()}
    clashes = {n for n in names.values() if list(names.values()).count(n) > 1}
    return {label: "/".join(parts[label][-2:]) if names[label] in clashes else names[label] for label in labels}


def latency(record):
    """A run's ms per face and how it was measured: (ms, "Keras predict_on_batch on CPU"), or (None, None).

    The CPU's entry in model_info.json's ``latency_by_cpu`` (``fer_core card`` / ``ship`` measure it and
    name the CPU, the last entry being the latest) is used where there is one, its Keras time first (every
    run has one, so they compare); else the time the run measured at its end (metrics.json: Keras
    ``predict_on_batch`` of one face, on a CPU it did not record).
    """
    entries = [e for e in record.model_info.get("latency_by_cpu") or []
               if e.get("cpu") and isinstance(e.get("ms_per_face"), dict) and e["ms_per_face"]]
    if entries:
        cpu, times = entries[-1]["cpu"], entries[-1]["ms_per_face"]
        runtime = KERAS_RUNTIME if KERAS_RUNTIME in times else next(iter(times))
        return float(times[runtime]), f"{runtime} on {cpu}"
    ms = record.ms_per_face
    if ms is None:
        return None, None
    metrics = record.metrics or {}
    runtime = metrics.get("backend") or KERAS_RUNTIME
    return ms, f"{runtime} on {metrics['cpu']}" if metrics.get("cpu") else f"{runtime}, CPU not recorded"


def comparison_table(records):
    """One row per run with readable column names and units (columns empty for every run are dropped).

    Returns:
        DataFrame: run, model, dataset, status, epochs, accuracy (%), macro-F1 (%), RMSE (px),
        parameters, ms per face, ms per face measured with (runtime and CPU).
    """
    names = short_names([r.label for r in records])
    rows = []
    for record in records:
        metrics = record.metrics or {}
        ms, measured = latency(record)
        rows.append({
            "run": names[record.label], "model": record.model_name, "dataset": record.dataset_name,
            "status": record.status, "epochs": record.epochs_done,
            "accuracy (%)": _percent(metrics.get("accuracy")),
            "macro-F1 (%)": _percent(metrics.get("macro_f1")),
            "RMSE (px)": metrics.get("rmse"),
            "parameters": record.params,
            "ms per face": ms,
            "ms per face measured with": measured,
        })
    table = pd.DataFrame(rows)
    return table.dropna(axis=1, how="all")


def _percent(value):
    return None if value is None else round(100 * value, 2)


def run_colors(names):
    """{name: #rrggbb}: a distinct colour for each run (in order), the same in every chart of the page."""
    return {name: RUN_PALETTE[i % len(RUN_PALETTE)] for i, name in enumerate(dict.fromkeys(names))}


def per_class_deltas(a, b):
    """Recall and F1 per class of run ``b`` minus run ``a``, classes matched by emotion name.

    Arguments:
        a, b: finished classification ``RunRecord`` objects.

    Returns:
        DataFrame: class, recall A, recall B, recall change, F1 A, F1 B, F1 change (classes in both).

    Raises:
        ValueError: a run has no per-class metrics, or they share no class.
    """
    per_class = []
    for record in (a, b):
        values = (record.metrics or {}).get("per_class")
        if not values:
            raise ValueError(f"{record.label} has no per-class results (not a finished classification run)")
        per_class.append({canonical_emotion(name): (name, v) for name, v in values.items()})
    common = [key for key in per_class[0] if key in per_class[1]]
    if not common:
        raise ValueError("the two runs share no class")
    rows = []
    for key in common:
        (name, first), (_, second) = per_class[0][key], per_class[1][key]
        rows.append({"class": name, "recall A": first["recall"], "recall B": second["recall"],
                     "recall change": second["recall"] - first["recall"], "F1 A": first["f1"], "F1 B": second["f1"],
                     "F1 change": second["f1"] - first["f1"]})
    return pd.DataFrame(rows)


def curves_by_task(curves, records):
    """Splits a ``records.curves_table`` by task, so that each task gets its own axes.

    Returns:
        {task: DataFrame of that task's runs' curves} (tasks without curves left out).
    """
    task_of = {r.label: r.task for r in records}
    tasks = curves["run"].map(task_of)
    return {task: curves[tasks == task] for task in dict.fromkeys(tasks) if (tasks == task).any()}
