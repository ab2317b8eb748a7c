"""How sure a classifier is, as the app shows it: probabilities corrected for the training classes'
prior and calibrated by a temperature (both fitted on the validation split by
``fer_core.runs.calibration`` and kept in the model's info file as ``output_adjustment``), and an
"uncertain" flag when the two most probable classes are close. Pure NumPy.
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


def correct_prior(probabilities, class_prior, power):
    """Divides probabilities by the training classes' prior to a power, and renormalises.

    A classifier trained where neutral and happy faces are common says neutral or happy more
    often than it should where they are not (logit adjustment, Menon et al. 2021): power 1
    removes the training prior entirely, 0 leaves the model as it is.

    Arguments:
        probabilities: array (..., C).
        class_prior: the training split's class shares (C,), summing to 1.
        power: how much of the prior to remove (0 to 1).

    Returns:
        float32 array of the same shape, rows summing to 1.
    """
    adjusted = np.asarray(probabilities, np.float64) / np.power(np.clip(np.asarray(class_prior, np.float64),
                                                                        1e-6, 1.0), float(power))
    return (adjusted / adjusted.sum(axis=-1, keepdims=True)).astype(np.float32)


def adjust_probabilities(probabilities, adjustment=None):
    """A model's probabilities as the app shows them: prior-corrected, then temperature-scaled.

    Arguments:
        probabilities: array (..., C) straight from the model.
        adjustment: the ``output_adjustment`` of the model's info file, {"class_prior", "prior_power",
            "temperature"} (each optional), or None for no change.

    Returns:
        float32 array of the same shape.
    """
    if not adjustment:
        return np.asarray(probabilities, np.float32)
    out = probabilities
    if adjustment.get("class_prior") is not None and adjustment.get("prior_power"):
        out = correct_prior(out, adjustment["class_prior"], adjustment["prior_power"])
    if adjustment.get("temperature", 1.0) != 1.0:
        out = apply_temperature(out, adjustment["temperature"])
    return np.asarray(out, np.float32)
