"""Masked keypoint loss and metric: missing (NaN) coordinates do not count."""

import keras
from keras import ops


def _masked_squared_error(y_true, y_pred):
    valid = ops.logical_not(ops.isnan(y_true))
    diff = ops.where(valid, y_true - y_pred, ops.zeros_like(y_pred))
    return ops.square(diff), ops.cast(valid, y_pred.dtype)


@keras.saving.register_keras_serializable(package="fer_core")
def masked_mse(y_true, y_pred):
    """Mean squared error over the coordinates present in y_true (per sample)."""
    sq, valid = _masked_squared_error(y_true, y_pred)
    return ops.sum(sq, axis=-1) / ops.maximum(ops.sum(valid, axis=-1), 1.0)


@keras.saving.register_keras_serializable(package="fer_core")
class MaskedRMSE(keras.metrics.Metric):
    """Root mean squared error in pixels over all present coordinates seen so far."""

    def __init__(self, name="rmse", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        sq, valid = _masked_squared_error(y_true, y_pred)
        self.total.assign_add(ops.sum(sq))
        self.count.assign_add(ops.sum(valid))

    def result(self):
        return ops.sqrt(self.total / ops.maximum(self.count, 1.0))

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)
