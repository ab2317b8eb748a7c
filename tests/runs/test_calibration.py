"""Temperature scaling, ECE and reliability bins (fer_core.runs.calibration), golden values on fixed inputs."""

import numpy as np
import pytest

from fer_core.inference.confidence import apply_temperature, is_uncertain
from fer_core.runs.calibration import (calibration_report, expected_calibration_error, fit_temperature,
                                       reliability_bins)


def overconfident(n=4000, seed=0):
    """A 3-class model that is right 70% of the time but says so with about 97% confidence."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    predicted = np.where(rng.random(n) < 0.7, labels, (labels + rng.integers(1, 3, n)) % 3)
    logits = rng.normal(0, 0.3, (n, 3))
    logits[np.arange(n), predicted] += 4.0
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probabilities, labels


def test_apply_temperature_keeps_the_ranking_and_softens_or_sharpens():
    p = np.array([[0.7, 0.2, 0.1]])
    assert np.allclose(apply_temperature(p, 1.0), p, atol=1e-6)
    soft, sharp = apply_temperature(p, 2.0), apply_temperature(p, 0.5)
    assert soft.argmax() == sharp.argmax() == 0
    assert soft[0, 0] < 0.7 < sharp[0, 0]
    assert np.allclose(soft.sum(axis=1), 1.0, atol=1e-6)


def test_ece_of_a_perfectly_calibrated_and_of_an_overconfident_model():
    labels = np.array([0, 0, 0, 1])
    calibrated = np.array([[0.75, 0.25]] * 4)  # says 75%, is right 3 times of 4
    assert expected_calibration_error(calibrated, labels) == pytest.approx(0.0)
    probabilities, labels = overconfident()
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.27, abs=0.02)


def test_fitted_temperature_softens_an_overconfident_model_and_lowers_its_ece():
    val, val_labels = overconfident(seed=1)
    test, test_labels = overconfident(seed=2)
    assert fit_temperature(val, val_labels) > 1.5
    report = calibration_report(val, val_labels, test, test_labels)
    assert report["ece_after"] < 0.05 < 0.2 < report["ece_before"]
    assert report["nll_after"] < report["nll_before"]
    assert sum(row["count"] for row in report["reliability_after"]) == len(test_labels)


def test_reliability_bins_count_every_sample_once_and_leave_empty_bins_empty():
    probabilities = np.array([[0.95, 0.05], [0.55, 0.45], [0.51, 0.49]])
    rows = reliability_bins(probabilities, np.array([0, 1, 0]), bins=5)
    assert [row["count"] for row in rows] == [0, 0, 2, 0, 1]
    assert rows[2]["accuracy"] == pytest.approx(0.5) and rows[0]["confidence"] is None


def test_uncertain_when_the_two_best_classes_are_close():
    assert is_uncertain(np.array([[0.40, 0.35, 0.25], [0.8, 0.1, 0.1]])).tolist() == [True, False]


def test_prior_power_is_chosen_on_macro_f1_and_removes_a_learned_bias():
    from fer_core.inference.confidence import adjust_probabilities, correct_prior
    from fer_core.runs.calibration import fit_prior_power, fit_temperature

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 2000)
    evidence = np.where(labels == 1, 0.65, 0.35) + rng.normal(0, 0.15, 2000)  # class 1 when evidence > 0.5
    prior = np.array([0.9, 0.1])  # trained where class 0 was 9 times as common: the model leans to 0
    probabilities = np.stack([(1 - evidence) * prior[0], evidence * prior[1]], axis=1)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    power, scores = fit_prior_power(probabilities, labels, prior)
    assert power >= 0.8 and scores[power] > scores[0.0] + 0.2
    assert np.allclose(correct_prior(probabilities, prior, 0.0), probabilities, atol=1e-6)
    adjustment = {"class_prior": prior, "prior_power": power,
                  "temperature": fit_temperature(correct_prior(probabilities, prior, power), labels)}
    shown = adjust_probabilities(probabilities, adjustment)
    assert (shown.argmax(axis=1) == labels).mean() > (probabilities.argmax(axis=1) == labels).mean() + 0.2
    assert adjust_probabilities(probabilities, None).tolist() == probabilities.astype(np.float32).tolist()
