"""``python -m fer_core ship``: a finished run's model into assets/models, with TFLite files and a model card."""

import argparse
import shutil
from pathlib import Path

HELP = "copy a run's best model into assets/models with float/int8 TFLite, info file and model card"

DESCRIPTION = """\
Takes RUN/model.keras and writes, into --out (default assets/models):
  NAME.keras, NAME.model_info.json, NAME.tflite (float32), NAME_int8.tflite,
  (--runtime says which of the two the app and `predict` run),
  NAME.md (the model card: data, split, the training command, test results,
  per-class results, confusion matrix, sizes, latency, learning curve).
Classifiers trained on fer2013 also get accuracy with flip test-time
augmentation and on FER+ majority labels in their card.

Exit status: 0 on success, 2 on an error (printed as one "error:" line)."""

WEAKNESSES = {
    "classification": [
        "Disgust has only 436 training images in FER2013 (against 7,215 for happy).",
        "Reported for FER2013 models in general, not measured here: faces with glasses are often read "
        "as angry.",
        "FER2013 faces are small (48x48), mostly frontal and web-sourced: profile faces, strong lighting and "
        "children are under-represented.",
    ],
    "keypoints": [
        "The training points are machine-made (probably FAN) on YouTube Faces frames: the model learns "
        "that annotator's habits, including its errors on open mouths.",
        "Crops come from a box fitted to Haar's boxes; a different face detector with another box "
        "geometry shifts every point.",
    ],
}


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


def run(args):
    """Ships the model; returns the exit status."""
    from fer_core.errors import ModelError
    from fer_core.evaluation import evaluate_model
    from fer_core.export import export_model
    from fer_core.model_card import evaluate_command, measured_weaknesses, render_model_card
    from fer_core.runs import earlier_runs
    from fer_core.runtime import KerasModel, LiteRTModel, cpu_description, median_latency_ms
    from fer_core.storage import read_json, write_json_atomic, write_text_atomic

    run_dir, out = Path(args.run), Path(args.out)
    config, info, metrics = (read_json(run_dir / f) for f in ("config.json", "model_info.json", "metrics.json"))
    if not (run_dir / "model.keras").is_file() or None in (config, info, metrics):
        raise ModelError(f"{run_dir}: not a finished run record (needs model.keras, config.json, "
                         "model_info.json and metrics.json)")
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / f"{args.name}.keras"
    shutil.copyfile(run_dir / "model.keras", model_path)
    info_path = out / f"{args.name}.model_info.json"
    write_json_atomic(info_path, {**info, "run": str(run_dir)})  # export reads the dataset from it
    exports, latency = [], {}
    keras_runner = KerasModel(model_path)
    latency["Keras predict_on_batch"] = median_latency_ms(keras_runner, info["input_size"], repeat=50)
    for suffix, int8 in (("", False), ("_int8", True)):
        tflite = out / f"{args.name}{suffix}.tflite"
        report = export_model(model_path, tflite, int8=int8, eval_limit=args.eval_limit)
        print("\n".join(report.lines()))
        exports.append((tflite.name, report.tflite_bytes, report.metric, report.keras_score, report.tflite_score))
        latency[f"LiteRT {'int8' if int8 else 'float32'}"] = median_latency_ms(LiteRTModel(tflite), info["input_size"])
    int8_runtime = args.runtime == "int8"
    shipped_info = {**info, "run": str(run_dir),
                    "ms_per_face": round(latency[f"LiteRT {'int8' if int8_runtime else 'float32'}"], 3),
                    "runtime_tflite": f"{args.name}{'_int8' if int8_runtime else ''}.tflite"}
    write_json_atomic(info_path, shipped_info)
    exports.insert(0, (model_path.name, model_path.stat().st_size, None, None, None))
    extra = []
    if info["task"] == "classification" and config["data"] == "fer2013":
        split = metrics.get("split", "PrivateTest")
        for data, tta, what in (("fer2013", True, f"accuracy on {split} with flip TTA"),
                                ("ferplus", False, f"accuracy on FER+ majority labels, {split} (contempt rows left out)")):
            result = evaluate_model(model_path, data, split, flip_tta=tta)
            command = evaluate_command(model_path, data, split, *(["--tta"] if tta else []))
            extra.append((what, f"{100 * result['accuracy']:.2f}% (n={result['n']})", command))
    history = (read_json(run_dir / "state.json") or {}).get("history", [])
    weaknesses = list(WEAKNESSES[info["task"]])
    if info["task"] == "classification":
        weaknesses = measured_weaknesses(metrics) + weaknesses
    card = render_model_card(args.name, model_path, run_dir, config, shipped_info, metrics, history, exports,
                             latency, extra, weaknesses, earlier_runs(config), cpu_description())
    write_text_atomic(out / f"{args.name}.md", card)
    print(f"wrote {out / (args.name + '.md')}")
    return 0
