"""The masked keypoint loss and RMSE metric ignore missing (NaN) coordinates."""

import numpy as np
import pytest

from fer_core.training.losses import MaskedRMSE, masked_mse


def test_masked_mse_ignores_nan_targets():
    y_true = np.array([[1.0, np.nan, 3.0, np.nan], [0.0, 0.0, 0.0, 0.0]], np.float32)
    y_pred = np.array([[2.0, 100.0, 5.0, -50.0], [1.0, 1.0, 1.0, 1.0]], np.float32)
    loss = np.asarray(masked_mse(y_true, y_pred))
    assert np.allclose(loss, [(1 + 4) / 2, 1.0])


def test_masked_rmse_accumulates_over_batches():
    metric = MaskedRMSE()
    metric.update_state(np.array([[0.0, np.nan]], np.float32), np.array([[3.0, 9.0]], np.float32))
    metric.update_state(np.array([[0.0, 0.0]], np.float32), np.array([[4.0, 0.0]], np.float32))
    assert float(metric.result()) == pytest.approx(np.sqrt((9 + 16 + 0) / 3))
    metric.reset_state()
    assert float(metric.result()) == 0.0
