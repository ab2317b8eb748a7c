"""`fer_core verify`: a run record's and a shipped model's stated figures, measured again."""

import json

import pandas as pd
import pytest

from fer_core.cli import main
from fer_core.errors import DatasetError
from fer_core.runs.verification import (FROM_PREDICTIONS, FigureCheck, check_consistency, check_figure, headline,
                                        tolerance_for, verify_run_record, verify_shipped_model)
from fer_core.storage import file_sha256


def test_headline_and_tolerances():
    assert headline({"accuracy": 0.7278, "macro_f1": 0.72}) == ("accuracy", 0.7278)
    assert headline({"rmse": 1.651, "nme_interocular": 0.07}) == ("rmse", 1.651)
    with pytest.raises(ValueError):
        headline({"n": 3})
    assert tolerance_for("accuracy", 3589) == pytest.approx(2 / 3589)
    assert tolerance_for("rmse", 630) == 0.002


def test_a_figure_agrees_within_its_tolerance_only():
    recorded = {"accuracy": 0.5, "n": 100}
    assert check_figure("m", "d", "s", recorded, lambda: {"accuracy": 0.52}).ok
    assert not check_figure("m", "d", "s", recorded, lambda: {"accuracy": 0.53}).ok


def test_a_figure_that_cannot_be_measured_does_not_agree():
    def missing():
        raise DatasetError("dataset 'x' not found")

    check = check_figure("m", "x", "test", {"rmse": 1.0}, missing)
    assert check == FigureCheck("m", "x", "test", "rmse", 1.0, None, 0.002, "dataset 'x' not found")
    assert not check.ok and check.as_dict()["ok"] is False


def test_verify_finds_a_changed_figure_in_a_run_record_and_a_shipped_model(tmp_path, data_root, capsys):
    runs, run, models = tmp_path / "runs", tmp_path / "runs" / "mx", tmp_path / "models"
    assert main(["train", "--model", "mini_xception", "--data", "fer2013-sample", "--epochs", "1",
                 "--limit", "64", "--run-dir", str(run)]) == 0
    assert main(["ship", "--run", str(run), "--name", "emotion", "--out", str(models), "--eval-limit", "10"]) == 0
    capsys.readouterr()
    assert verify_run_record(run).ok and verify_shipped_model(models / "emotion.keras").ok
    assert main(["verify", "--runs", str(runs), "--models", str(models), "--json"]) == 0
    checks = json.loads(capsys.readouterr().out)
    assert [(c["name"], c["ok"]) for c in checks] == [(run.as_posix(), True), ((models / "emotion.keras").as_posix(), True),
                                                      ((models / "emotion.tflite").as_posix() + " (adjusted)", True)]

    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "accuracy": metrics["accuracy"] + 0.05}))
    assert main(["verify", "--runs", str(runs), "--models", str(models)]) == 1
    out = capsys.readouterr().out
    assert out.count("FAIL") == 2 and out.rstrip().endswith(  # the adjusted figure is the shipped file's own
        "1 of 3 figures agree (3 by evaluating the model again, 0 from recorded predictions)")


def test_a_run_record_without_weights_is_checked_against_its_predictions(tmp_path, data_root, capsys):
    runs, run = tmp_path / "runs", tmp_path / "runs" / "mx"
    assert main(["train", "--model", "mini_xception", "--data", "fer2013-sample", "--epochs", "1",
                 "--limit", "64", "--run-dir", str(run)]) == 0
    info = json.loads((run / "model_info.json").read_text())
    assert info["weights_sha256"] == file_sha256(run / "model.keras")
    (run / "model.keras").unlink()  # as committed under the weights policy
    capsys.readouterr()
    assert main(["verify", "--runs", str(runs), "--models"]) == 0
    out = capsys.readouterr().out
    assert f"ok   {run.as_posix()}" in out and "[from predictions.csv (no weights in git)]" in out
    assert out.rstrip().endswith("1 of 1 figures agree (0 by evaluating the model again, 1 from recorded predictions)")

    frame = pd.read_csv(run / "predictions.csv")
    frame.assign(predicted="disgust").to_csv(run / "predictions.csv", index=False)  # 1-2 of 64 are disgust
    check = check_consistency(run)
    assert check.method == FROM_PREDICTIONS and not check.ok and check.measured < check.recorded
