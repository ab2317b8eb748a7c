"""``python -m fer_core card``: a model card next to a run record's model (``RUN/model_card.md``).

``write_model_card`` is shared with ``ship``, which writes the card of a shipped model.
"""

import argparse
from pathlib import Path

HELP = "write RUN/model_card.md: the model card of a run record's model.keras"

DESCRIPTION = """\
Writes RUN/model_card.md for each run record given: data and split, the commands
that trained it (earlier runs it grew from first), test results per class, the
confusion matrix, size, latency and known weaknesses, as `ship` does for the
shipped models. Classifiers trained on fer2013 also get accuracy with flip
test-time augmentation and on FER+ majority labels. Latency is Keras
predict_on_batch on this machine's CPU, added to the run's model_info.json
beside the figures of other CPUs measured on the same model.keras.

Exit status: 0 on success, 2 on an error (printed as one "error:" line)."""

FER2013_WEAKNESSES = [
    "Disgust has only 436 training images in FER2013 (against 7,215 for happy).",
    "Reported for FER2013 models in general, not measured here: faces with glasses are often read as angry.",
    "FER2013 faces are small (48x48), mostly frontal and web-sourced: profile faces, strong lighting and "
    "children are under-represented.",
]

# Known weaknesses by dataset (classifiers) or task (keypoints), after the measured ones.
WEAKNESSES = {
    "fer2013": FER2013_WEAKNESSES,
    "fer2013-sample": FER2013_WEAKNESSES,
    "ferplus": [
        "FER+'s majority labels are lopsided: in Training, neutral 10,309 and happiness 7,528 against disgust 191, "
        "contempt 165 and fear 652; its PrivateTest has 23 disgust and 27 contempt faces, so their recall is "
        "measured on very few images.",
        "The images are FER2013's (48x48, mostly frontal, web-sourced): profile faces, strong lighting and "
        "children are under-represented.",
    ],
    "ckplus48": [
        "CK+48 holds 981 posed faces of 118 subjects filmed in one lab (the last 3 frames of 327 sequences): "
        "spontaneous expressions, other lighting, poses and ages are outside what it saw.",
        "It has no neutral class, and contempt (54 images) and fear (75) are its smallest classes.",
    ],
    "keypoints": [
        "The training points are machine-made (probably FAN) on YouTube Faces frames: the model learns "
        "that annotator's habits, including its errors on open mouths.",
        "Crops come from a box fitted to Haar's boxes; a different face detector with another box "
        "geometry shifts every point.",
    ],
}


def known_weaknesses(task, data):
    """The known weaknesses of a model of that task trained on that dataset (see ``WEAKNESSES``)."""
    return list(WEAKNESSES.get("keypoints" if task == "keypoints" else data, []))


# Where an emotion classifier is checked beyond its own test split: the other labels of the same
# images, and CK+48 (posed faces from another lab, every image, labels mapped by name).
OTHER_LABELS = {"fer2013": ("ferplus", "FER+ majority labels"), "ferplus": ("fer2013", "FER2013 labels")}
CROSS_DATASET = ("ckplus48", "all")


def extra_results(model_path, task, data, split, runtime_path=None):
    """(description, value, command) rows beyond the test split for an emotion classifier trained on
    fer2013 or ferplus: leak-free accuracy (without test images copied from training), flip TTA,
    the other label set of the same images, all of CK+48 (the
    cross-dataset check), and flip TTA of ``runtime_path`` (the TFLite file the app runs, which
    its Photo page averages with the mirrored face) when given; [] for other models."""
    from fer_core.runs.evaluation import evaluate_model
    from fer_core.runs.cards import evaluate_command
    from fer_core.inference.runtime import load_model_runner

    if task != "classification" or data not in OTHER_LABELS:
        return []
    other, other_name = OTHER_LABELS[data]
    checks = [(model_path, data, split, False, f"accuracy on {split} without its images that are exact copies of "
               "training images (leak-free)"),
              (model_path, data, split, True, f"accuracy on {split} with flip TTA"),
              (model_path, other, split, False, f"accuracy on {other_name}, {split} (classes it does not know left out)"),
              (model_path, *CROSS_DATASET, False, "CK+48, all 981 posed faces (another lab; the classes it knows)")]
    if runtime_path is not None:
        checks.append((runtime_path, data, split, True,
                       f"accuracy of `{Path(runtime_path).name}` (what the app runs) on {split} with flip TTA"))
    rows, runners = [], {}
    for path, dataset, on, tta, what in checks:
        if path not in runners:
            runners[path] = load_model_runner(path, prefer_tflite=False)  # each file loaded once
        result = evaluate_model(path, dataset, on, flip_tta=tta, runner=runners[path])
        command = evaluate_command(path, dataset, on, *(["--tta"] if tta else []))
        value = f"{100 * result['accuracy']:.2f}% (n={result['n']:,})"
        if what.endswith("(leak-free)"):
            clean = result["leak_free"]
            value = f"{100 * clean['accuracy']:.2f}% (n={clean['n']:,}; {clean['left_out']:,} copies left out)"
        if dataset == CROSS_DATASET[0]:
            recall = ", ".join(f"{name} {v['recall']:.2f}" for name, v in result["per_class"].items() if v["support"])
            left_out = ", ".join(f"{name} {count}" for name, count in result.get("excluded", {}).items())
            value += f", macro-F1 {result['macro_f1']:.3f}; recall {recall}" + (
                f"; left out: {left_out}" if left_out else "")
        rows.append((what, value, command))
    return rows


def write_model_card(name, model_path, run_dir, info, exports, latency, out_path, calibration=None):
    """Renders the model card of a run's model and writes it.

    Arguments:
        name: the card's title (e.g. "emotion", or the run's folder name).
        model_path: the ``.keras`` file the card is about.
        run_dir: the run record it came from (config.json, metrics.json, state.json).
        info: its model info (plus ``runtime_tflite`` when shipped).
        exports: list of (file name, size in bytes, metric name, keras score, tflite score).
        latency: the ``model_card.latency_log``.
        out_path: the markdown file to write.
        calibration: the classifier's ``calibration_of`` when already measured (``ship``); default:
            measured here.
    """
    from fer_core.runs.cards import measured_weaknesses, render_model_card
    from fer_core.runs.records import earlier_runs
    from fer_core.storage import read_json, write_text_atomic

    run_dir = Path(run_dir)
    config, metrics = read_json(run_dir / "config.json"), read_json(run_dir / "metrics.json")
    history = (read_json(run_dir / "state.json") or {}).get("history", [])
    weaknesses = known_weaknesses(info["task"], config["data"])
    if info["task"] == "classification":
        weaknesses = measured_weaknesses(metrics) + weaknesses
    runtime = info.get("runtime_tflite")
    runtime_path = Path(model_path).with_name(runtime) if runtime else None
    extra = extra_results(model_path, info["task"], config["data"], metrics.get("split", "PrivateTest"), runtime_path)
    calibration = calibration or calibration_of(runtime_path or model_path, info, config["data"])
    card = render_model_card(name, model_path, run_dir, config, info, metrics, history, exports, latency,
                             extra, weaknesses, earlier_runs(config), calibration)
    write_text_atomic(out_path, card)
    print(f"wrote {out_path}")


def calibration_of(model_path, info, data):
    """``calibrate_model`` of a classifier on its dataset (with ``"model"``: the file measured), or
    None for a keypoint model or a dataset without validation and test splits."""
    from fer_core.errors import DatasetError
    from fer_core.runs.calibration import calibrate_model

    if info["task"] != "classification":
        return None
    try:
        return {**calibrate_model(model_path, data), "model": str(model_path)}
    except (DatasetError, ValueError) as error:
        print(f"no calibration for {model_path}: {error}")
        return None


def add_parser(subparsers):
    """Registers the ``card`` subcommand."""
    parser = subparsers.add_parser("card", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, nargs="+", metavar="RUN",
                        help="run record folders with model.keras and metrics.json")
    parser.set_defaults(func=run)
    return parser


def run(args):
    """Writes each run's card; returns the exit status."""
    from fer_core.config import MODEL_CARD_FILENAME
    from fer_core.errors import ModelError
    from fer_core.runs.cards import latency_log
    from fer_core.inference.runtime import KerasModel, cpu_description, median_latency_ms
    from fer_core.storage import file_sha256, read_json, write_json_atomic

    for run_dir in map(Path, args.run):
        model_path, info_path = run_dir / "model.keras", run_dir / "model_info.json"
        info = read_json(info_path)
        if not model_path.is_file() or info is None or not (run_dir / "metrics.json").is_file():
            raise ModelError(f"{run_dir}: not a finished run record (needs model.keras, model_info.json and "
                             "metrics.json)")
        ms = round(median_latency_ms(KerasModel(model_path), info["input_size"], repeat=50), 3)
        latency = latency_log(info.get("latency_by_cpu"), cpu_description(),
                              {model_path.name: file_sha256(model_path)}, {"Keras predict_on_batch": ms})
        info = {**info, "latency_by_cpu": latency}
        write_json_atomic(info_path, info)
        write_model_card(run_dir.name, model_path, run_dir, info,
                         [(model_path.name, model_path.stat().st_size, None, None, None)], latency,
                         run_dir / MODEL_CARD_FILENAME)
    return 0
