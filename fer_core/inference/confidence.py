"""How sure a classifier is, as the app shows it: probabilities calibrated by a temperature (fitted on
the validation split by ``fer_core.runs.calibration``) and an "uncertain" flag when the two most
probable classes are close. Pure NumPy.
"""

import numpy as np

# A face's answer is "uncertain" when its two most probable classes (calibrated) are this close.
UNCERTAIN_MARGIN = 0.15


def apply_temperature(probabilities, temperature):
    """Probabilities softened (T > 1) or sharpened (T < 1) by a temperature.

    Arguments:
        probabilities: array (..., C) of class probabilities (rows sum to 1).
        temperature: T > 0; 1 leaves them as they are.

    Returns:
        float32 array of the same shape: softmax(log(p) / T).
    """
    logits = np.log(np.clip(np.asarray(probabilities, np.float64), 1e-12, 1.0)) / float(temperature)
    logits -= logits.max(axis=-1, keepdims=True)
    exp = np.exp(logits)
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)


def is_uncertain(probabilities, margin=UNCERTAIN_MARGIN):
    """True where the two most probable classes are closer than ``margin`` (array (..., C) in, bool out)."""
    top_two = np.sort(np.asarray(probabilities), axis=-1)[..., -2:]
    return (top_two[..., 1] - top_two[..., 0]) < margin
