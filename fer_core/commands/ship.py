"""``python -m fer_core ship``: a finished run's model into assets/models, with TFLite files and a model card."""

import argparse
import shutil
import tempfile
from pathlib import Path

HELP = "copy a run's best model into assets/models with float/int8 TFLite, info file and model card"

# How a float TFLite file that was not shipped is made again.
MADE_ON_DEMAND = "python -m fer_core export --model {name}.keras --out {name}.tflite"

DESCRIPTION = """\
Takes RUN/model.keras and writes, into --out (default assets/models):
  NAME.keras, NAME.model_info.json, NAME.tflite (float32), NAME_int8.tflite,
  (--runtime says which of the two the app and `predict` run; with --runtime
  int8, NAME.tflite is measured for the card but not shipped: `export` makes it),
  NAME.md (the model card: data, split, the training command, test results,
  per-class results, confusion matrix, sizes, latency, learning curve).
A re-ship from the same run keeps a TFLite file that an earlier ship exported from the
same model.keras (their SHA-256 stand together in the latency log): an int8 file
calibrated on another CPU differs in a few bytes, and no new copy of the weights
should reach git. A classifier also gets its output adjustment, fitted on the validation split with
the runtime file (`python -m fer_core calibrate`): the class-prior correction and
temperature the app applies, stored in NAME.model_info.json with the adjusted
test accuracy, which `verify` measures again.
Latency is measured on this machine's CPU and added to the latency of earlier
ships measured on other CPUs, kept while the shipped files are byte-identical.
Classifiers trained on fer2013 also get accuracy with flip test-time
augmentation and on FER+ majority labels in their card.

Exit status: 0 on success, 2 on an error (printed as one "error:" line)."""

def add_parser(subparsers):
    """Registers the ``ship`` subcommand."""
    parser = subparsers.add_parser("ship", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a run record folder with model.keras and metrics.json")
    parser.add_argument("--name", required=True, help="file name stem of the shipped model (e.g. emotion)")
    parser.add_argument("--out", default="assets/models", help="folder to write (default assets/models)")
    parser.add_argument("--runtime", choices=["float", "int8"], default="float",
                        help="the TFLite file that inference runs (default float; int8 is faster, check its accuracy)")
    parser.add_argument("--eval-limit", type=int, metavar="N", help="score exports on at most N test samples")
    parser.set_defaults(func=run)
    return parser


def exported_from(latency_log, model_path, tflite_path):
    """True when a shipped TFLite file is the one exported from this model file: an earlier ship's
    latency log names both files with their present SHA-256 in one entry."""
    from fer_core.storage import file_sha256

    if not (Path(model_path).is_file() and Path(tflite_path).is_file()):
        return False
    pair = {Path(model_path).name: file_sha256(model_path), Path(tflite_path).name: file_sha256(tflite_path)}
    return any(all(entry.get("files", {}).get(name) == sha for name, sha in pair.items()) for entry in latency_log)


def run(args):
    """Ships the model; returns the exit status."""
    from fer_core.commands.card import calibration_of, write_model_card
    from fer_core.commands.export import quiet_converter
    from fer_core.commands.predict import output_folder
    from fer_core.errors import ModelError
    from fer_core.training.export import export_model
    from fer_core.runs.cards import latency_log
    from fer_core.inference.runtime import KerasModel, LiteRTModel, cpu_description, median_latency_ms
    from fer_core.storage import file_sha256, read_json, write_json_atomic

    run_dir = Path(args.run)
    config, info, metrics = (read_json(run_dir / f) for f in ("config.json", "model_info.json", "metrics.json"))
    if not (run_dir / "model.keras").is_file() or None in (config, info, metrics):
        raise ModelError(f"{run_dir}: not a finished run record (needs model.keras, config.json, "
                         "model_info.json and metrics.json)")
    out = output_folder(args.out)  # a file there, or a folder that cannot be made: one line, exit 2
    model_path = out / f"{args.name}.keras"
    info_path = out / f"{args.name}.model_info.json"
    earlier_latency = (read_json(info_path) or {}).get("latency_by_cpu", [])
    shutil.copyfile(run_dir / "model.keras", model_path)
    write_json_atomic(info_path, {**info, "run": str(run_dir)})  # export reads the dataset from it
    exports, latency = [], {}
    keras_runner = KerasModel(model_path)
    latency["Keras predict_on_batch"] = round(median_latency_ms(keras_runner, info["input_size"], repeat=50), 3)
    int8_runtime = args.runtime == "int8"
    with tempfile.TemporaryDirectory() as scratch:
        for suffix, int8 in (("", False), ("_int8", True)):
            # With the int8 runtime the float file is measured but not shipped (README: weights policy).
            shipped = int8 or not int8_runtime
            tflite = (out if shipped else Path(scratch)) / f"{args.name}{suffix}.tflite"
            reuse = shipped and exported_from(earlier_latency, model_path, tflite)
            with quiet_converter():
                report = export_model(model_path, tflite, int8=int8, eval_limit=args.eval_limit, reuse=reuse)
            if reuse:
                print(f"kept {tflite}: exported earlier from this model.keras (their SHA-256 are in the latency log)")
            print("\n".join(report.lines()))
            label = tflite.name if shipped else f"{tflite.name} (not shipped: {MADE_ON_DEMAND.format(name=args.name)})"
            exports.append((label, report.tflite_bytes, report.metric, report.keras_score, report.tflite_score))
            backend = f"LiteRT {'int8' if int8 else 'float32'}"
            latency[backend] = round(median_latency_ms(LiteRTModel(tflite), info["input_size"]), 3)
            if not shipped:
                (out / tflite.name).unlink(missing_ok=True)  # an earlier ship's copy
    exports.insert(0, (model_path.name, model_path.stat().st_size, None, None, None))
    latency_by_cpu = latency_log(earlier_latency, cpu_description(),
                                 {f: file_sha256(out / f) for f, *_ in exports if (out / f).is_file()}, latency)
    runtime_tflite = f"{args.name}{'_int8' if int8_runtime else ''}.tflite"
    shipped_info = {**info, "run": str(run_dir),
                    "ms_per_face": latency[f"LiteRT {'int8' if int8_runtime else 'float32'}"],
                    "runtime_tflite": runtime_tflite, "latency_by_cpu": latency_by_cpu}
    calibration = calibration_of(out / runtime_tflite, info, config["data"])
    if calibration:  # what the app applies to the runtime file's probabilities, and its figure for verify
        shipped_info["output_adjustment"] = calibration["output_adjustment"]
        shipped_info["adjusted_test"] = {"file": runtime_tflite, "data": config["data"],
                                         "split": calibration["test_split"], "n": calibration["n"],
                                         "accuracy": calibration["test_accuracy_adjusted"]}
    write_json_atomic(info_path, shipped_info)
    write_model_card(args.name, model_path, run_dir, shipped_info, exports, latency_by_cpu, out / f"{args.name}.md",
                     calibration)
    return 0
