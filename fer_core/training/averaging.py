"""Weight averaging: stochastic weight averaging (SWA) over a run's epochs, and model soups.

Models on one training trajectory (the epochs of a run, or warm restarts of one another) lie in
one basin of the loss, and the mean of their weights is often better than any of them
(Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima"; Wortsman et al. 2022,
"Model soups"). Batch-normalisation statistics do not average: they are measured again on
training images for the averaged weights.
"""

import numpy as np


def running_average(average, weights, count):
    """The mean of ``count`` + 1 weight lists, from the mean of the first ``count`` and the next.

    Arguments:
        average: list of arrays, the mean so far (ignored when ``count`` is 0).
        weights: list of arrays of the same shapes, the next model's weights.
        count: how many weight lists ``average`` is the mean of.

    Returns:
        list of float arrays.
    """
    weights = [np.asarray(w) for w in weights]
    if count == 0:
        return [w.astype(np.float64) if _is_float(w) else w.copy() for w in weights]
    return [a + (w - a) / (count + 1) if _is_float(w) else w.copy() for a, w in zip(average, weights)]


def _is_float(array):
    return np.issubdtype(array.dtype, np.floating)


def average_weights(weight_lists):
    """Element-wise mean of several models' weight lists (a uniform model soup).

    Arguments:
        weight_lists: one ``model.get_weights()`` list per model, all of the same architecture.

    Returns:
        list of arrays.

    Raises:
        ValueError: no models, or models whose weights differ in number or shape.
    """
    if not weight_lists:
        raise ValueError("no models to average")
    shapes = [tuple(np.shape(w)) for w in weight_lists[0]]
    average, count = None, 0
    for weights in weight_lists:
        if [tuple(np.shape(w)) for w in weights] != shapes:
            raise ValueError("the models to average differ in architecture (weight shapes)")
        average, count = running_average(average, weights, count), count + 1
    return average


def recompute_batch_norm(model, images, batch_size=256):
    """Sets every BatchNormalization layer's moving statistics to their mean over ``images``.

    The model runs in training mode, batch by batch; each layer's momentum is set so that its
    moving mean and variance end as the plain average over the batches (then restored).

    Arguments:
        model: a Keras model (its BatchNormalization layers are changed in place).
        images: float32 array (N, H, W, C) as the model takes them, without augmentation.
        batch_size: images per forward pass.

    Returns:
        the number of BatchNormalization layers updated.
    """
    import keras

    layers = [layer for layer in _all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers or not len(images):
        return 0
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.moving_mean.assign(np.zeros(layer.moving_mean.shape, dtype="float32"))
        layer.moving_variance.assign(np.ones(layer.moving_variance.shape, dtype="float32"))
    try:
        for k, start in enumerate(range(0, len(images), batch_size)):
            for layer in layers:
                layer.momentum = k / (k + 1.0)  # new = old * k/(k+1) + batch / (k+1): a running mean
            model(images[start:start + batch_size], training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return len(layers)


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def greedy_soup(candidates, score):
    """Greedy model soup (Wortsman et al. 2022): the best model, then each next one kept only if
    adding it to the mean does not lower the validation score.

    Arguments:
        candidates: list of (name, weights), weights as ``model.get_weights()``.
        score: function(weights) -> validation score of a model with those weights (higher is better).

    Returns:
        (names kept, their mean weights, its score, {name: score alone}).
    """
    alone = {name: score(weights) for name, weights in candidates}
    ordered = sorted(candidates, key=lambda c: alone[c[0]], reverse=True)
    kept, soup, best = [ordered[0]], ordered[0][1], alone[ordered[0][0]]
    for name, weights in ordered[1:]:
        trial = average_weights([w for _, w in kept] + [weights])
        value = score(trial)
        if value >= best:
            kept, soup, best = kept + [(name, weights)], trial, value
    return [name for name, _ in kept], soup, best, alone
