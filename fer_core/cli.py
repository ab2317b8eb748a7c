"""``python -m fer_core``: the command line that scripts and checks rely on.

Every command has ``--help``; a bad argument or a user error prints one line
``error: ...`` on stderr and exits 2.
"""

import argparse
import contextlib
import dataclasses
import importlib
import importlib.abc
import importlib.util
import json
import os
import re
import signal
import sys
import threading

from fer_core.errors import FerStudioError, ModelError, file_problem, filtered_native_stderr, printable

# Subcommands living in their own modules under fer_core.commands (each has add_parser and run).
COMMAND_MODULES = ("audit", "calibrate", "card", "export", "predict", "ship", "soup", "submit", "verify")

# What TensorFlow's native code writes on stderr while it is imported, whatever TF_CPP_MIN_LOG_LEVEL says
# (TensorFlow 2.21 logs before reading it): absl's preamble and its INFO lines ("I0000 00:00:... port.cc:153]
# oneDNN custom operations are on...").
TENSORFLOW_IMPORT_NOISE = re.compile(
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"
    rb"|I\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] ")


class _FilteredImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports one top-level module with its native stderr output filtered (``filtered_native_stderr``).

    Arguments:
        name: the module (e.g. "tensorflow"); the finder takes itself off ``sys.meta_path`` once used.
        drop: the lines to leave out.
    """

    def __init__(self, name, drop):
        self.name, self.drop, self.loader = name, drop, None

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        self.loader, spec.loader = spec.loader, self
        return spec

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader
        with filtered_native_stderr(self.drop):
            self.loader.exec_module(module)


def quiet_tensorflow():
    """Keeps TensorFlow's log lines off stderr, which the command line keeps for messages to the user.

    Sets ``TF_CPP_MIN_LOG_LEVEL`` to 2 (warnings and errors of TensorFlow's C++ code are not shown)
    unless it is set, turns absl's Python logging down to errors, and filters the lines TensorFlow
    prints while it is imported (``TENSORFLOW_IMPORT_NOISE``). Nothing is imported here: TensorFlow
    is imported when a command needs it. ``TF_CPP_MIN_LOG_LEVEL=0`` keeps every line.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass
    if os.environ["TF_CPP_MIN_LOG_LEVEL"].strip() in ("", "0") or "tensorflow" in sys.modules:
        return
    if not any(isinstance(finder, _FilteredImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _FilteredImport("tensorflow", TENSORFLOW_IMPORT_NOISE))


def _json_or_table(obj, as_json, table_lines):
    if as_json:
        print(json.dumps(obj, indent=2))
    else:
        for line in table_lines:
            print(line)


def cmd_datasets(args):
    from fer_core.config import data_dir
    from fer_core.data import DATASET_NAMES, find_datasets

    root = data_dir()
    found = find_datasets(root)
    rows = [{"name": n, "path": str(found[n]) if n in found else None} for n in DATASET_NAMES]
    lines = [f"FER_DATA_DIR={root}" + ("" if root.is_dir() else "  (folder not found)")]
    lines += [f"  {'found  ' if r['path'] else 'missing'}  {r['name']:<18} {r['path'] or ''}" for r in rows]
    _json_or_table({"data_dir": str(root), "datasets": rows}, args.json, lines)
    return 0


def cmd_summary(args):
    from fer_core.data import load_dataset

    dataset = load_dataset(args.dataset, fold=args.fold or 0, folds=args.folds or 10)
    summary = dataset.summary()
    lines = [f"{dataset.name} ({dataset.task}, {len(dataset)} samples, images {dataset.image_size}) from {dataset.source}"]
    for split, entry in summary["splits"].items():
        counts = ", ".join(f"{k} {v}" for k, v in entry["labels"].items())
        lines.append(f"  {split:<12} {entry['total']:>6}  {counts}")
    _json_or_table(summary, args.json, lines)
    return 0


def cmd_train(args):
    from fer_core.runs.recording import train_run
    from fer_core.training.loop import TrainConfig

    overrides = {k: v for k, v in vars(args).items()
                 if k in {f.name for f in dataclasses.fields(TrainConfig)} and v is not None}
    config = TrainConfig.from_dict(overrides)
    run_dir = args.run_dir or f"runs/{args.model}-{args.data.replace(':', '_').replace('/', '_')}"
    with _sigterm_interrupts():  # the dashboard's Stop: the run ends as on Ctrl-C, resumable
        metrics = train_run(config, run_dir, resume=args.resume, finish_now=args.finish_now)
    headline = {k: metrics[k] for k in ("accuracy", "macro_f1", "rmse", "nme_interocular", "n") if k in metrics}
    print(json.dumps({"run_dir": str(run_dir), **headline}))
    return 0


@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM raises KeyboardInterrupt in the ``with`` block (main thread only), as Ctrl-C does: the
    command unwinds (its run folder's lock released) and exits with status 130."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_evaluate(args):
    from fer_core.runs.evaluation import evaluate_model
    from fer_core.inference.runtime import load_model_runner

    runner = load_model_runner(args.model, prefer_tflite=False)
    metrics = evaluate_model(args.model, args.data, args.split, flip_tta=args.tta, fold=args.fold, folds=args.folds,
                             runner=runner, raw=args.raw)
    if args.latency:
        from fer_core.inference.runtime import cpu_description, median_latency_ms

        metrics.update(ms_per_face=round(median_latency_ms(runner, runner.input_size), 3), backend=runner.backend,
                       cpu=cpu_description())
    if args.json:
        print(json.dumps({k: v for k, v in metrics.items() if k != "confusion_matrix"}, indent=2))
    elif "rmse" in metrics:
        print(f"RMSE {metrics['rmse']:.3f} px on {metrics['n']} faces")
        for name, value in metrics["per_keypoint"].items():
            print(f"  {name:<26} {value:.3f}")
    else:
        print(f"accuracy {metrics['accuracy']:.4f}  macro-F1 {metrics['macro_f1']:.4f}  n={metrics['n']}")
        for name, m in metrics["per_class"].items():
            print(f"  {name:<10} precision {m['precision']:.3f}  recall {m['recall']:.3f}  "
                  f"f1 {m['f1']:.3f}  support {m['support']}")
    if args.latency and not args.json:
        print(f"{metrics['ms_per_face']:.3f} ms per face ({metrics['backend']}, batch of 1, median of 200 calls) "
              f"on {metrics['cpu']}")
    return 0


def _add_fold_args(parser):
    parser.add_argument("--fold", type=int, default=None,
                        help="test fold of the subject-independent k-fold split (CK+48, folders; default 0)")
    parser.add_argument("--folds", type=int, default=None, help="number of folds (default 10)")


def build_parser():
    from fer_core.config import MODEL_NAMES

    parser = argparse.ArgumentParser(prog="python -m fer_core", description="FER Studio command line.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("datasets", help="list the datasets found under FER_DATA_DIR")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("summary", help="sample and label counts per split of a dataset")
    p.add_argument("dataset", help="dataset name: fer2013, ferplus, ckplus48, keypoints, folder:PATH, ...")
    p.add_argument("--json", action="store_true", help='print {"splits": {SPLIT: {"total": N, "labels": {...}}}}')
    _add_fold_args(p)
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("train", help="train a zoo model and write a run record")
    p.add_argument("--model", required=True, choices=MODEL_NAMES, help="zoo model")
    p.add_argument("--data", required=True, help="dataset name")
    p.add_argument("--epochs", type=int, help="epochs (default 30)")
    p.add_argument("--run-dir", help="run record folder (default runs/MODEL-DATA)")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last finished epoch")
    p.add_argument("--finish-now", action="store_true",
                   help="with --resume: train no further, evaluate the best model so far on the test split")
    p.add_argument("--batch-size", type=int, help="batch size (default 64)")
    p.add_argument("--learning-rate", type=float, help="peak learning rate (default 1e-3)")
    p.add_argument("--optimizer", choices=["adam", "sgd"], help="optimizer (default adam)")
    p.add_argument("--weight-decay", type=float, help="decoupled weight decay (default 0)")
    p.add_argument("--schedule", choices=["cosine", "constant"], help="learning-rate schedule (default cosine)")
    p.add_argument("--label-smoothing", type=float, help="label smoothing (default 0)")
    p.add_argument("--class-weights", action="store_true", default=None, help="weight classes by inverse frequency")
    p.add_argument("--soft-labels", action="store_true", default=None, help="FER+: train on vote distributions")
    p.add_argument("--no-augment", dest="augment", action="store_false", default=None, help="no augmentation")
    p.add_argument("--no-flip", dest="flip", action="store_false", default=None, help="no horizontal flips")
    p.add_argument("--rotation", type=float, help="maximum rotation in degrees (default 10)")
    p.add_argument("--shift", type=float, help="maximum shift, fraction of the side (default 0.1)")
    p.add_argument("--zoom", type=float, help="maximum zoom, relative (default 0.1)")
    p.add_argument("--erase", type=float, help="random-erasing probability per image (default 0)")
    p.add_argument("--stretch", type=float, help="maximum aspect-ratio change as a log-ratio, e.g. 0.1 (default 0)")
    p.add_argument("--camera", type=float, help="probability per image of imitating another camera: contrast, "
                   "gamma, blur, noise, JPEG (default 0)")
    p.add_argument("--mixup", type=float, help="mixup Beta parameter, e.g. 0.2 (classifiers; default 0 = off)")
    p.add_argument("--warmup-epochs", type=int, help="linear warm-up epochs of the cosine schedule (default 1)")
    p.add_argument("--patience", type=int, help="early-stopping patience in epochs, 0 = off (default 10)")
    p.add_argument("--input-size", type=int, help="input side in pixels (default: the model's)")
    p.add_argument("--limit", type=int, help="at most this many samples per split (quick runs)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--strategy", choices=["default", "mirrored", "multi-worker"],
                   help="tf.distribute strategy (default: default); multi-worker: MultiWorkerMirroredStrategy "
                   "over the cluster in TF_CONFIG, one process per worker (see the README)")
    p.add_argument("--init-from", help="start from the weights of this .keras model of the same architecture "
                   "(a warm restart; a classifier with other classes gives all but its output layer; "
                   "default: random initialisation)")
    p.add_argument("--teacher", dest="teachers", action="append",
                   help="distil from this .keras classifier (repeat for an averaged ensemble of teachers)")
    p.add_argument("--distill", type=float, help="weight of the teachers' outputs in the targets (default 0.5)")
    p.add_argument("--swa-start", type=int, help="average the weights of every epoch from this one on "
                   "(stochastic weight averaging); the mean is kept if it beats the best epoch (default 0 = off)")
    _add_fold_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a saved model on a dataset split")
    p.add_argument("--model", required=True, help="a .keras model file, or a .tflite file (run through LiteRT)")
    p.add_argument("--data", required=True, help="dataset name")
    p.add_argument("--split", default="test", help="split name or role (default test), or all (every sample)")
    p.add_argument("--raw", action="store_true", help="score the model's own probabilities, without the prior "
                   "correction and temperature of its info file (output_adjustment) that the app applies")
    p.add_argument("--tta", action="store_true", help="average with horizontally flipped images (classifiers)")
    p.add_argument("--latency", action="store_true",
                   help="also time one face (median of 200 calls, batch of 1) and name this machine's CPU")
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_fold_args(p)
    p.set_defaults(func=cmd_evaluate)

    for module_name in COMMAND_MODULES:
        importlib.import_module(f"fer_core.commands.{module_name}").add_parser(sub)
    return parser


# The options that name files a command reads, by their argparse names (a list for nargs / append options).
INPUT_FILE_OPTIONS = {"train": ("init_from", "teachers"), "evaluate": ("model",), "calibrate": ("model",),
                      "export": ("model",), "predict": ("model", "keypoint_model"), "soup": ("models",),
                      "submit": ("model", "images", "lookup")}


def check_input_files(args):
    """Refuses an input file option that names something that is there but cannot be read as a file.

    A path that is not there is left to the command, which says "no such model file" and the like;
    this says what else is wrong: "a symlink loop", "not a regular file (a character device)",
    "a folder, not a file", ...

    Raises:
        ModelError: for the first such path.
    """
    for option in INPUT_FILE_OPTIONS.get(args.command, ()):
        values = getattr(args, option, None)
        for value in ([values] if isinstance(values, str) else values or []):
            problem = file_problem(value)
            if problem and problem != "no such file":
                raise ModelError(f"{value}: {problem}")


def main(argv=None):
    """Runs one command; returns its exit status (0; 2 for a user error, printed as one line)."""
    quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_input_files(args)
        return args.func(args) or 0
    except FerStudioError as exc:
        print(f"error: {printable(exc)}", file=sys.stderr)
        return 2
    except ValueError as exc:  # bad option values reported by the core (unknown split, model, ...)
        print(f"error: {printable(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
