"""Model cards: a markdown page next to a shipped model, rendered from its run record.

Pure functions of dicts; every number in a card comes from a file that a
committed command reproduces (the run record, the export and latency reports).
"""

import dataclasses
from pathlib import Path

from fer_core.training.loop import TrainConfig

# Flags of `python -m fer_core train` for TrainConfig fields that differ from the defaults.
_FLAG_FIELDS = ("epochs", "batch_size", "learning_rate", "optimizer", "weight_decay", "schedule",
                "warmup_epochs", "label_smoothing", "patience", "input_size", "fold", "folds", "limit",
                "seed", "strategy", "rotation", "shift", "zoom", "erase", "stretch", "camera", "mixup",
                "init_from", "distill", "swa_start")
_SWITCHES = {"class_weights": ("--class-weights", True), "soft_labels": ("--soft-labels", True),
             "augment": ("--no-augment", False), "flip": ("--no-flip", False)}


def train_command(config, run_dir):
    """Returns the ``python -m fer_core train`` command line that reproduces a run's config.

    Arguments:
        config: the run's config.json as a dict.
        run_dir: where the command writes its run record.

    A run trained elsewhere (``tools/train_on_accelerator.py``) keeps its own command line in
    ``extra["train_command"]``; that one is returned.
    """
    if (config.get("extra") or {}).get("train_command"):
        return config["extra"]["train_command"]
    defaults = dataclasses.asdict(TrainConfig(model=config["model"], data=config["data"]))
    parts = ["python -m fer_core train", f"--model {config['model']}", f"--data {config['data']}"]
    for name in _FLAG_FIELDS:
        if name in config and config[name] != defaults[name]:
            parts.append(f"--{name.replace('_', '-')} {config[name]}")
    parts += [f"--teacher {path}" for path in config.get("teachers") or []]
    for name, (flag, when) in _SWITCHES.items():
        if config.get(name, defaults[name]) == when and defaults[name] != when:
            parts.append(flag)
    parts.append(f"--run-dir {run_dir}")
    return " ".join(parts)


def _listed(names):
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _selection(metrics):
    """Which weights the run kept: its best epoch, or the mean of its epochs' weights (SWA)."""
    average, run = metrics.get("weight_average"), metrics.get("epochs_run")
    if metrics.get("soup"):
        soup = metrics["soup"]
        if soup.get("uniform"):
            return (f"a uniform soup of {len(soup['models'])} models, scoring {soup['val']:.4f} there against "
                    f"{max(soup['alone'].values()):.4f} for the best alone")
        return (f"a greedy soup that kept {len(soup['models'])} of {len(soup['alone'])} models, "
                f"scoring {soup['val']:.4f} there against {max(soup['alone'].values()):.4f} for the best alone")
    if not average:
        return f"best epoch {metrics.get('best_epoch')} of {run}"
    return (f"the mean of the weights of epochs {average['first']}-{average['last']} of {run}, stochastic "
            f"weight averaging, which scored {average['val']:.4f} there, above its best single epoch, "
            f"{metrics.get('best_epoch')}")


def _kfold(config):
    """(fold, folds) of a run on a k-fold dataset (CK+48, a class folder), else None."""
    data = config["data"]
    if data == "ckplus48" or data.startswith("folder:"):
        return config.get("fold", 0), config.get("folds", 10)
    return None


def _fold_options(kfold):
    """The evaluate flags that select ``_kfold``'s fold (none for the default fold 0 of 10)."""
    fold, folds = kfold or (0, 10)
    return [] if (fold, folds) == (0, 10) else ["--fold", str(fold), "--folds", str(folds)]


def _planned(config, metrics):
    run, planned = metrics.get("epochs_run"), config.get("epochs")
    if run is None or planned is None or run >= planned or metrics.get("stopped_early"):
        return ""
    return (f"; a snapshot: {run} of the {planned} planned epochs were trained, and "
            f"`--resume` continues the run")


def _curve_rows(history, count=12):
    """About ``count`` evenly spaced history rows, always ending with the last one."""
    rows = history[:: max(1, len(history) // count)]
    return rows if rows[-1] is history[-1] else rows + [history[-1]]


# A test accuracy whose 95% interval is wider than this either way is called out as a weakness.
WIDE_INTERVAL = 0.03


def measured_weaknesses(metrics):
    """Sentences on a classifier's weakest class and most frequent confusion, from its test metrics,
    and on the test split's size when the accuracy's 95% interval (normal approximation) is wider
    than ``WIDE_INTERVAL`` either way."""
    names = list(metrics["per_class"])
    recalls = {n: m["recall"] for n, m in metrics["per_class"].items() if m["support"]}
    worst = min(recalls, key=recalls.get)
    matrix = [row[:] for row in metrics["confusion_matrix"]]
    for i in range(len(matrix)):
        matrix[i][i] = -1
    count, true, pred = max((v, i, j) for i, row in enumerate(matrix) for j, v in enumerate(row))
    support = metrics["per_class"][names[true]]["support"]
    return [f"Lowest recall: {worst} ({100 * recalls[worst]:.1f}% of {metrics['per_class'][worst]['support']} "
            f"test faces).",
            f"Most frequent confusion: {names[true]} read as {names[pred]} ({count} of {support} test faces)."
            ] + _interval_weakness(metrics["accuracy"], metrics["n"])


def _interval_weakness(accuracy, n):
    half = 1.96 * (accuracy * (1 - accuracy) / n) ** 0.5
    return ([f"Only {n} test faces: the accuracy's 95% interval is about ±{100 * half:.1f} points."]
            if half > WIDE_INTERVAL else [])


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def latency_log(earlier, cpu, files, latency_ms):
    """A model's latency record by CPU, with this machine's measurement in it.

    Latency depends on the CPU above all, so each ``ship`` (or ``card``, for a run record) adds the
    CPU it ran on. A measurement from another CPU is kept only while it timed the very same files
    (same SHA-256; it may also name files no longer shipped, such as a float TFLite file made on
    demand): shipping the same run again keeps it, shipping another model starts afresh.

    Arguments:
        earlier: the log the last ``ship`` or ``card`` wrote (a list of entries; [] when none).
        cpu: this machine's ``runtime.cpu_description()``.
        files: {file name: SHA-256} of the files just shipped.
        latency_ms: {backend: ms per face} measured here.

    Returns:
        list of {"cpu", "files", "ms_per_face"} entries, this machine's last.
    """
    kept = [entry for entry in earlier or [] if entry.get("cpu") != cpu
            and all(entry.get("files", {}).get(name) == sha for name, sha in files.items())]
    return kept + [{"cpu": cpu, "files": files, "ms_per_face": dict(latency_ms)}]


def _latency_table(log):
    backends = list(dict.fromkeys(b for entry in log for b in entry["ms_per_face"]))
    return _table(["CPU"] + backends, [[entry["cpu"]] + [f"{entry['ms_per_face'][b]:.2f} ms"
                                                          if b in entry["ms_per_face"] else "" for b in backends]
                                       for entry in log])


def evaluate_command(model_path, data, split, *options):
    """The ``python -m fer_core evaluate`` command line that prints a model's figure as JSON.

    Arguments:
        model_path: the model file; data, split: where it is measured.
        options: more flags, e.g. "--tta" or "--latency".
    """
    return " ".join(["python -m fer_core evaluate --model", str(model_path), "--data", data, "--split", split,
                     *options, "--json"])


def calibration_section(calibration, model_path, data):
    """The "Calibrated confidence" section of a classifier's card (markdown lines).

    Arguments:
        calibration: the result of ``runs.calibration.calibrate_model``.
        model_path: the file it was measured on; data: its dataset.
    """
    adjustment, report = calibration["output_adjustment"], calibration["calibration"]
    rows = [(f"{before['low']:.2f}-{before['high']:.2f}", *(
        f"{b['count']:,}" + (f" / {b['confidence']:.2f} / {b['accuracy']:.2f}" if b["count"] else "")
        for b in (before, after)))
        for before, after in zip(report["reliability_before"], report["reliability_after"])
        if before["count"] or after["count"]]
    return ["", "## Calibrated confidence", "",
            f"The app shows this model's probabilities corrected for the training classes' prior (power "
            f"{adjustment['prior_power']:.2f}, the best macro-F1 on `{calibration['val_split']}`) and scaled by a "
            f"temperature of {adjustment['temperature']:.3f} fitted on the same split. On `{calibration['test_split']}` "
            f"(n={calibration['n']:,}): accuracy {100 * calibration['test_accuracy_raw']:.2f}% raw and "
            f"{100 * calibration['test_accuracy_adjusted']:.2f}% adjusted; expected calibration error "
            f"({report['bins']} bins) **{report['ece_before']:.4f}** raw and **{report['ece_after']:.4f}** adjusted.",
            "", "Reliability (faces / mean confidence / accuracy in each confidence bin; a calibrated model's two "
            "last numbers agree):", "",
            _table(["confidence", "raw", "adjusted"], rows), "", "Reproduce:", "", "```bash",
            f"FER_DATA_DIR=../shared/data python -m fer_core calibrate --model {model_path} --data {data} --json",
            "```"]


def render_model_card(name, model_path, run_dir, config, info, metrics, history, exports, latency,
                      extra_results=(), weaknesses=(), earlier_runs=(), calibration=None):
    """Renders a model card.

    Arguments:
        name: the model's name (e.g. "emotion").
        model_path: the shipped .keras file.
        run_dir: the run record it came from.
        config, info, metrics: the run's config.json, model_info.json (plus ``runtime_tflite``,
            the file inference runs, when shipped) and metrics.json.
        history: list of history rows (dicts).
        exports: list of (file name, size in bytes, metric name, keras score, tflite score).
        latency: the ``latency_log`` (ms per face by CPU and backend; [] when not measured).
        extra_results: list of (description, value, command) rows.
        weaknesses: list of sentences.
        earlier_runs: list of (config, run_dir) whose models this run used (``--init-from``,
            ``--teacher``), each before the runs that use it: their commands come first.
        calibration: a classifier's ``runs.calibration.calibrate_model`` result (measured on the
            file the app runs, when shipped), or None.

    Returns:
        markdown text.
    """
    task = info.get("task")
    data = config["data"]
    split = metrics.get("split", "test")
    kfold = _kfold(config)
    folds = _fold_options(kfold)
    evaluate = evaluate_command(model_path, data, split, *folds)
    out = [f"# Model card: {name}", "",
           f"`{model_path}`: {config['model']} ({info.get('params', '?'):,} parameters), "
           f"input {info.get('input_size')}x{info.get('input_size')} grayscale, trained on `{data}`.", "",
           "## Data and split", "",
           f"Trained on the train split of `{data}`, model selected on its validation split "
           f"({_selection(metrics)}"
           f"{_planned(config, metrics)}), reported once on "
           f"`{split}` ({metrics['n']} samples"
           f"{f'; subject-independent fold {kfold[0]} of {kfold[1]}' if kfold else ''}).", "",
           "## How it was trained", ""]
    sources = ([f"starts from the weights of `{config['init_from']}` (a warm restart)"]
               if config.get("init_from") else [])
    teachers = [f"`{path}`" for path in config.get("teachers") or []]
    if teachers:
        sources.append(f"learns from the {'averaged ' if len(teachers) > 1 else ''}outputs of {_listed(teachers)} "
                       f"(distillation)")
    soup = (config.get("extra") or {}).get("kept")
    if soup:
        sources.append(f"is the mean of the weights of {_listed([f'`{p}`' for p in soup])} (a model soup)")
    if earlier_runs:
        out += [f"It {' and '.join(sources)}, so the commands run in this order:", ""]
    out += ["```bash"] + [f"FER_DATA_DIR=../shared/data {train_command(c, d)}"
                          for c, d in [*earlier_runs, (config, run_dir)]]
    out += ["```", "", "## Results", ""]
    if task == "keypoints":
        out += [f"RMSE **{metrics['rmse']:.3f} px** in the {info.get('input_size')}x{info.get('input_size')} crop; "
                f"mean error / inter-ocular distance {metrics.get('nme_interocular', float('nan')):.4f}.", "",
                _table(["keypoint", "RMSE (px)"], [(k, f"{v:.3f}") for k, v in metrics["per_keypoint"].items()])]
    else:
        out += [f"Accuracy **{100 * metrics['accuracy']:.2f}%**, macro-F1 {metrics['macro_f1']:.4f}.", "",
                _table(["class", "precision", "recall", "F1", "support"],
                       [(k, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", v["support"])
                        for k, v in metrics["per_class"].items()]),
                "", "Confusion matrix (rows: true label, columns: predicted):", "",
                _table([""] + list(metrics["per_class"]),
                       [[label] + row for label, row in zip(metrics["per_class"], metrics["confusion_matrix"])])]
    out += ["", "Reproduce:", "", "```bash", f"FER_DATA_DIR=../shared/data {evaluate}", "```"]
    if extra_results:
        out += ["", "## More results", "", _table(["what", "value", "command"],
                                                  [(d, v, f"`{c}`") for d, v, c in extra_results])]
    if calibration:
        out += calibration_section(calibration, calibration.get("model", model_path), data)
    out += ["", "## Size and speed", "",
            _table(["file", "size", "metric", "Keras", "TFLite"],
                   [(f, f"{b / 1024:.0f} KiB", m or "", "" if k is None else f"{k:.4f}",
                     "" if t is None else f"{t:.4f}") for f, b, m, k, t in exports])]
    if latency:
        out += ["", "Latency per face (batch of 1, median) on each CPU it was measured on. It depends on the CPU "
                "above all, most on the vector instructions named in each row: measure it on yours with the "
                "commands below.", "", _latency_table(latency)]
    tflite_files = [f for f, *_ in exports if f.endswith(".tflite")]  # the shipped ones ("(not shipped: ...)" others)
    folder = Path(model_path).parent
    timed = [folder / f for f in tflite_files] or [model_path]
    out += ["", ("Reproduce (each TFLite file's accuracy through LiteRT, and its latency on your CPU):" if tflite_files
                 else "Reproduce (its accuracy, and its latency on your CPU):"), "", "```bash"]
    out += [f"FER_DATA_DIR=../shared/data {evaluate_command(path, data, split, *folds, '--latency')}"
            for path in timed] + ["```"]
    if info.get("runtime_tflite"):
        out += ["", f"The app and `python -m fer_core predict` run `{info['runtime_tflite']}` through LiteRT."]
    if history:
        last = history[-1]
        out += ["", "## Learning curve", "",
                _table(list(last.keys()), [[f"{v:.4g}" if isinstance(v, float) else v for v in row.values()]
                                           for row in _curve_rows(history)])]
    if weaknesses:
        out += ["", "## Known weaknesses", ""] + [f"- {w}" for w in weaknesses]
    return "\n".join(out) + "\n"
