"""python -m fer_core calibrate: the prior power and temperature of a classifier, measured on real splits."""

import json

from fer_core.cli import main
from tests.inference_models import tiny_models


def test_calibrate_reports_the_adjustment_and_ece_before_and_after(tmp_path_factory, data_root, capsys):
    model = tiny_models(tmp_path_factory)["emotion_keras"]
    assert main(["calibrate", "--model", str(model), "--data", "fer2013-sample", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    adjustment, report = result["output_adjustment"], result["calibration"]
    assert 0.0 <= adjustment["prior_power"] <= 1.0 and adjustment["temperature"] > 0
    assert len(adjustment["class_prior"]) == 7 and abs(sum(adjustment["class_prior"]) - 1) < 1e-6
    assert result["val_split"] == "PublicTest" and result["test_split"] == "PrivateTest"
    assert sum(row["count"] for row in report["reliability_before"]) == result["n"]
    assert report["nll_after"] <= report["nll_before"] + 1e-6  # fitted on val: rarely worse on test, never much
    assert main(["calibrate", "--model", str(model), "--data", "fer2013-sample"]) == 0
    assert "ECE" in capsys.readouterr().out


def test_a_dataset_without_a_test_split_is_named(tmp_path_factory, tmp_path, data_root, capsys):
    model = tiny_models(tmp_path_factory)["emotion_keras"]
    sample = (data_root / "fer2013" / "fer2013_sample1000.csv").read_text().splitlines()
    (tmp_path / "notest.csv").write_text("\n".join([sample[0]] + [row for row in sample[1:]
                                                                   if not row.endswith("PrivateTest")]) + "\n")
    assert main(["calibrate", "--model", str(model), "--data", f"fer2013-csv:{tmp_path / 'notest.csv'}"]) == 2
    assert "its test split has no labelled images" in capsys.readouterr().err
