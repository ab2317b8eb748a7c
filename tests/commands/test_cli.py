"""The command line contract: JSON shapes, --help everywhere, one-line errors with exit code 2."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fer_core.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]

COMMANDS = ["datasets", "summary", "train", "evaluate", "export", "predict", "card"]


def _cli(*args, env=None):
    result = subprocess.run([sys.executable, "-m", "fer_core", *args], capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}, timeout=300)
    return result.returncode, result.stdout, result.stderr


def test_summary_json_reports_the_readme_counts(data_root, capsys):
    assert main(["summary", "fer2013", "--json"]) == 0
    splits = json.loads(capsys.readouterr().out)["splits"]
    assert [splits[s]["total"] for s in ("Training", "PublicTest", "PrivateTest")] == [28709, 3589, 3589]
    assert splits["Training"]["labels"]["disgust"] == 436
    assert main(["summary", "ckplus48", "--json"]) == 0
    assert sum(v["total"] for v in json.loads(capsys.readouterr().out)["splits"].values()) == 981
    assert main(["summary", "keypoints", "--json"]) == 0
    assert sum(v["total"] for v in json.loads(capsys.readouterr().out)["splits"].values()) == 4232


def test_datasets_lists_what_is_found(data_root, capsys):
    assert main(["datasets", "--json"]) == 0
    rows = {r["name"]: r["path"] for r in json.loads(capsys.readouterr().out)["datasets"]}
    assert rows["fer2013"].endswith("fer2013.csv.gz") and rows["facial_keypoints"] is None


def test_evaluate_json_matches_the_run_record(tmp_path, data_root, capsys):
    assert main(["train", "--model", "mini_xception", "--data", "fer2013-sample", "--epochs", "1",
                 "--limit", "128", "--run-dir", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    recorded = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert main(["evaluate", "--model", str(tmp_path / "run" / "model.keras"), "--data", "fer2013-sample",
                 "--split", "PrivateTest", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {"accuracy", "macro_f1", "n", "per_class"}
    assert result["n"] == 100 and result["accuracy"] == pytest.approx(recorded["accuracy"])
    assert set(result["per_class"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}


def test_every_command_has_help(capsys):
    for command in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args([command, "--help"])
        assert exit_info.value.code == 0
        assert "usage:" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["summary", "nope"], "error: unknown dataset 'nope'"),
    (["evaluate", "--model", "missing.keras", "--data", "fer2013-sample"], "error: missing.keras: no such model file"),
    (["evaluate", "--model", "missing_int8.tflite", "--data", "fer2013-sample"],
     "error: missing_int8.tflite: no such model file"),
    (["train", "--model", "mini_xception", "--data", "fer2013-sample", "--epochs", "1", "--resume",
      "--run-dir", "/nonexistent/run"], "error: /nonexistent/run: nothing to resume"),
    (["card", "--run", "/nonexistent/run"], "error: /nonexistent/run: not a finished run record"),
])
def test_user_errors_are_one_line_with_exit_2(data_root, args, message):
    code, out, err = _cli(*args)
    assert code == 2 and err.strip().startswith(message) and len(err.strip().splitlines()) == 1


def test_missing_data_dir_is_a_clear_error(tmp_path):
    code, _, err = _cli("summary", "fer2013", env={"FER_DATA_DIR": str(tmp_path / "absent")})
    assert code == 2 and "data folder not found; set FER_DATA_DIR" in err


def test_bad_arguments_exit_non_zero():
    code, _, err = _cli("train", "--model", "nonet", "--data", "x")
    assert code == 2 and "invalid choice: 'nonet'" in err


def test_a_fer2013_model_is_evaluated_on_ferplus_labels(tmp_path, data_root, capsys):
    from fer_core.data import load_dataset
    from fer_core.runs.evaluation import relabel

    ferplus = load_dataset("ferplus").subset("PrivateTest").labelled()
    mapped = relabel(ferplus, ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"))
    contempt = ferplus.label_names.index("contempt")
    assert len(mapped) == len(ferplus) - int((ferplus.labels == contempt).sum())
    happy = ferplus.labels == ferplus.label_names.index("happiness")
    assert (mapped.labels == 3).sum() == happy.sum()


def test_ship_writes_model_files_and_a_card_from_a_run(tmp_path, data_root, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "mini_xception", "--data", "fer2013-sample", "--epochs", "1",
                 "--limit", "64", "--run-dir", str(run)]) == 0
    assert main(["ship", "--run", str(run), "--name", "emotion", "--out", str(tmp_path / "models"),
                 "--eval-limit", "40"]) == 0
    out = tmp_path / "models"
    assert sorted(p.name for p in out.iterdir()) == [
        "emotion.keras", "emotion.md", "emotion.model_info.json", "emotion.tflite", "emotion_int8.tflite"]
    info = json.loads((out / "emotion.model_info.json").read_text())
    assert info["task"] == "classification" and info["run"] == str(run)
    card = (out / "emotion.md").read_text()
    recorded = json.loads((run / "metrics.json").read_text())
    assert f"Accuracy **{100 * recorded['accuracy']:.2f}%**" in card
    assert f"--run-dir {run}" in card and "LiteRT int8" in card
    from fer_core.inference.runtime import EmotionClassifier

    classifier = EmotionClassifier.from_path(out / "emotion.keras")
    assert classifier.backend == "litert" and classifier.runner.path.name == "emotion.tflite"
    assert info["runtime_tflite"] == "emotion.tflite" and "run `emotion.tflite`" in card
    evaluate_tflite = f"python -m fer_core evaluate --model {out / 'emotion_int8.tflite'} --data fer2013-sample"
    assert evaluate_tflite in card and "Latency per face (batch of 1, median) on each CPU" in card
    # the output adjustment the app applies, fitted on the validation split with the runtime file
    adjustment, adjusted = info["output_adjustment"], info["adjusted_test"]
    assert classifier.adjustment == adjustment and 0 <= adjustment["prior_power"] <= 1
    assert adjusted["file"] == "emotion.tflite" and adjusted["split"] == "PrivateTest"
    from fer_core.runs.evaluation import evaluate_model

    shown = evaluate_model(out / "emotion.tflite", "fer2013-sample", "PrivateTest")
    assert shown["accuracy"] == pytest.approx(adjusted["accuracy"])
    assert "## Calibrated confidence" in card and f"temperature of {adjustment['temperature']:.3f}" in card
    assert f"python -m fer_core calibrate --model {out / 'emotion.tflite'} --data fer2013-sample --json" in card


def test_ship_keeps_latency_measured_on_other_cpus_for_the_same_files(tmp_path, data_root):
    from fer_core.inference.runtime import cpu_description
    from fer_core.storage import file_sha256

    run, out = tmp_path / "run", tmp_path / "models"
    assert main(["train", "--model", "mini_xception", "--data", "fer2013-sample", "--epochs", "1",
                 "--limit", "64", "--run-dir", str(run)]) == 0
    assert main(["ship", "--run", str(run), "--name", "emotion", "--out", str(out), "--eval-limit", "10"]) == 0
    info_path = out / "emotion.model_info.json"
    info = json.loads(info_path.read_text())
    (here,) = info["latency_by_cpu"]
    files = ["emotion.keras", "emotion.tflite", "emotion_int8.tflite"]
    assert here["cpu"] == cpu_description() and here["files"] == {f: file_sha256(out / f) for f in files}
    assert info["ms_per_face"] == here["ms_per_face"]["LiteRT float32"] > 0
    elsewhere = {"cpu": "Other CPU, 8 cores, avx2", "files": here["files"], "ms_per_face": {"LiteRT int8": 9.87}}
    stale = {"cpu": "Old CPU, 4 cores, avx2", "files": {"emotion.keras": "0" * 64}, "ms_per_face": {"LiteRT int8": 1.0}}
    info_path.write_text(json.dumps({**info, "latency_by_cpu": [stale, elsewhere, here]}))
    before = {f: file_sha256(out / f) for f in files}
    assert main(["ship", "--run", str(run), "--name", "emotion", "--out", str(out), "--eval-limit", "10"]) == 0
    assert {f: file_sha256(out / f) for f in files} == before
    log = json.loads(info_path.read_text())["latency_by_cpu"]
    assert [e["cpu"] for e in log] == ["Other CPU, 8 cores, avx2", cpu_description()]
    card = (out / "emotion.md").read_text()
    assert "| Other CPU, 8 cores, avx2 |" in card and "9.87 ms" in card and "Old CPU" not in card


def test_card_of_a_run_record_gives_its_results_and_latency_on_this_cpu(tmp_path, data_root):
    from fer_core.inference.runtime import cpu_description

    run = tmp_path / "run"
    assert main(["train", "--model", "mini_xception", "--data", "fer2013-sample", "--epochs", "1",
                 "--limit", "64", "--run-dir", str(run)]) == 0
    assert main(["card", "--run", str(run)]) == 0
    card = (run / "model_card.md").read_text()
    recorded = json.loads((run / "metrics.json").read_text())
    assert card.startswith("# Model card: run\n") and f"Accuracy **{100 * recorded['accuracy']:.2f}%**" in card
    assert (f"python -m fer_core evaluate --model {run / 'model.keras'} --data fer2013-sample --split "
            f"{recorded['split']} --json") in card
    assert f"--limit 64 --run-dir {run}" in card and "## Known weaknesses" in card and "Lowest recall" in card
    (entry,) = json.loads((run / "model_info.json").read_text())["latency_by_cpu"]
    assert entry["cpu"] == cpu_description() and list(entry["files"]) == ["model.keras"]
    assert f"| {entry['cpu']} | {entry['ms_per_face']['Keras predict_on_batch']:.2f} ms |" in card


def test_evaluate_runs_a_shipped_tflite_file_through_litert(tmp_path, data_root, capsys):
    run, out = tmp_path / "run", tmp_path / "models"
    assert main(["train", "--model", "mini_xception", "--data", "fer2013-sample", "--epochs", "1",
                 "--limit", "64", "--run-dir", str(run)]) == 0
    assert main(["ship", "--run", str(run), "--name", "emotion", "--out", str(out), "--eval-limit", "10"]) == 0
    capsys.readouterr()
    results = {}
    for name in ("emotion.keras", "emotion.tflite", "emotion_int8.tflite"):
        assert main(["evaluate", "--model", str(out / name), "--data", "fer2013-sample", "--split", "PrivateTest",
                     "--latency", "--json"]) == 0
        results[name] = json.loads(capsys.readouterr().out)
    assert [r["n"] for r in results.values()] == [100, 100, 100]
    assert results["emotion.tflite"]["accuracy"] == pytest.approx(results["emotion.keras"]["accuracy"], abs=0.011)
    assert results["emotion_int8.tflite"]["accuracy"] == pytest.approx(results["emotion.keras"]["accuracy"], abs=0.1)
    assert [r["backend"] for r in results.values()] == ["keras", "litert", "litert"]
    assert all(r["ms_per_face"] > 0 and r["cpu"] for r in results.values())


def test_ship_with_the_int8_runtime(tmp_path, data_root):
    run = tmp_path / "run"
    assert main(["train", "--model", "mini_xception", "--data", "fer2013-sample", "--epochs", "1",
                 "--limit", "64", "--run-dir", str(run)]) == 0
    out = tmp_path / "models"
    assert main(["ship", "--run", str(run), "--name", "emotion", "--out", str(out), "--eval-limit", "40",
                 "--runtime", "int8"]) == 0
    from fer_core.inference.runtime import EmotionClassifier

    info = json.loads((out / "emotion.model_info.json").read_text())
    assert info["runtime_tflite"] == "emotion_int8.tflite"
    assert EmotionClassifier.from_path(out / "emotion.keras").runner.path.name == "emotion_int8.tflite"
    # the float file is measured for the card, not shipped (README: weights policy)
    assert sorted(p.name for p in out.glob("*.tflite")) == ["emotion_int8.tflite"]
    card = (out / "emotion.md").read_text()
    assert "emotion.tflite (not shipped: python -m fer_core export --model emotion.keras --out emotion.tflite)" in card
    assert "LiteRT float32" in card and list(info["latency_by_cpu"][0]["files"]) == ["emotion.keras", "emotion_int8.tflite"]
    assert "run `emotion_int8.tflite`" in (out / "emotion.md").read_text()
    (out / "emotion_int8.tflite").unlink()  # without its TFLite file the model runs through Keras
    assert EmotionClassifier.from_path(out / "emotion.keras").backend == "keras"


def _quiet_env():
    """This environment without TF_CPP_MIN_LOG_LEVEL (conftest sets it): the command line must quieten TensorFlow."""
    return {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


@pytest.mark.parametrize("command", ["evaluate", "predict", "export"])
def test_stderr_is_empty_when_a_command_succeeds(data_root, tmp_path, tmp_path_factory, command):
    import cv2

    from tests.inference_models import astronaut_bgr, tiny_models

    if command == "evaluate":  # imports TensorFlow and Keras
        args = ["evaluate", "--model", "assets/models/emotion.keras", "--data", "fer2013-sample", "--split",
                "PrivateTest", "--json"]
    elif command == "export":  # TensorFlow's TFLite converter, int8
        args = ["export", "--model", str(tiny_models(tmp_path_factory)["emotion_keras"]), "--int8", "--dataset",
                "fer2013-sample", "--eval-limit", "20", "--out", str(tmp_path / "int8.tflite")]
    else:  # runs LiteRT
        cv2.imwrite(str(tmp_path / "astronaut.jpg"), astronaut_bgr())
        args = ["predict", str(tmp_path / "astronaut.jpg"), "--model", "assets/models/emotion_int8.tflite"]
    result = subprocess.run([sys.executable, "-m", "fer_core", *args], capture_output=True, text=True,
                            env=_quiet_env(), timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() and result.stderr == ""


def test_tensorflow_errors_and_other_lines_written_while_it_is_imported_are_kept(capfd):
    from fer_core.cli import TENSORFLOW_IMPORT_NOISE
    from fer_core.errors import filtered_native_stderr

    with filtered_native_stderr(TENSORFLOW_IMPORT_NOISE):
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
                    b"I0000 00:00:1796288861.910397   25039 port.cc:153] oneDNN custom operations are on.\n"
                    b"E0000 00:00:1796288861.910397   25039 cuda.cc:1] a real error\n")
        print("a message", file=sys.stderr)
    assert sorted(capfd.readouterr().err.splitlines()) == [
        "E0000 00:00:1796288861.910397   25039 cuda.cc:1] a real error", "a message"]


def test_input_files_that_are_not_files_are_named(tmp_path, capsys):
    (tmp_path / "loop.keras").symlink_to(tmp_path / "loop.keras")
    for model, problem in ((tmp_path / "loop.keras", "a symlink loop"),
                           ("/dev/zero", "not a regular file (a character device)"),
                           (tmp_path, "a folder, not a file")):
        assert main(["evaluate", "--model", str(model), "--data", "fer2013-sample"]) == 2
        assert capsys.readouterr().err == f"error: {model}: {problem}\n"
    assert main(["train", "--model", "emotion_cnn", "--data", "fer2013-sample", "--init-from", "/dev/zero",
                 "--run-dir", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == "error: /dev/zero: not a regular file (a character device)\n"


def test_an_empty_split_is_named(tmp_path, capsys):
    pixels = " ".join(["9"] * 2304)
    csv = tmp_path / "no-test.csv"
    csv.write_text(f"emotion,pixels,Usage\n3,{pixels},Training\n4,{pixels},PublicTest\n")
    assert main(["evaluate", "--model", "assets/models/emotion_int8.tflite", "--data", f"fer2013-csv:{csv}",
                 "--split", "PrivateTest"]) == 2
    assert capsys.readouterr().err == (f"error: dataset fer2013-csv:{csv}: split 'PrivateTest' is empty "
                                       "(no labelled sample to evaluate on)\n")
    assert main(["train", "--model", "emotion_cnn", "--data", f"fer2013-csv:{csv}", "--epochs", "1",
                 "--run-dir", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == (f"error: dataset fer2013-csv:{csv}: its test split (PrivateTest) is empty "
                                       "(no labelled sample)\n")
    assert not (tmp_path / "run").exists(), "a refused run leaves no folder"


def test_errors_echo_no_control_characters(tmp_path, capsys):
    named = tmp_path / "x\x1b[2Jy.csv"  # a file name that clears the screen
    assert main(["summary", f"fer2013-csv:{named}"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {tmp_path}/x\\x1b[2Jy.csv: file not found\n" and "\x1b" not in err


def test_sigterm_ends_a_training_command_as_ctrl_c_does():
    import signal

    from fer_core.cli import _sigterm_interrupts

    with pytest.raises(KeyboardInterrupt):
        with _sigterm_interrupts():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(100):  # the handler runs between bytecodes
                sum(range(1000))
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, "restored afterwards"


def test_export_out_that_cannot_be_written_is_a_usage_error(tmp_path, capsys):
    model = "assets/runs/mini_xception-fer2013/model.keras"
    assert main(["export", "--model", model, "--out", "/proc/x.tflite"]) == 2
    assert main(["export", "--model", model, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--out /proc/x.tflite: cannot write in /proc" in err and "a folder is there, not a file" in err
