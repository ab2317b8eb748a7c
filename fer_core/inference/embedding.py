"""Embeddings of a dataset sample: a model's penultimate-layer features, projected to 2-D.

Pipeline (``embed_samples``): pick a seeded sample of a dataset split, resize
its faces to the model's input, run the model once for both its ``features``
layer (the layer before the output in every zoo model) and its output, then
project the features with PCA, t-SNE or UMAP (when ``umap`` is installed).
A classifier's answers are compared with the labels by emotion name (CK+'s
"happiness" is FER2013's "happy", whatever their positions in the two lists).

TensorFlow is only touched through the model object handed in; scikit-learn
does the projections.
"""

from dataclasses import dataclass

import numpy as np

from fer_core.config import KEYPOINTS, canonical_emotion

FEATURES_LAYER = "features"


def projection_methods():
    """The available projections: ["pca", "tsne"] and "umap" when umap-learn is importable."""
    import importlib.util

    methods = ["pca", "tsne"]
    if importlib.util.find_spec("umap") is not None:
        methods.append("umap")
    return methods


def sample_indices(count, limit, seed=0):
    """A seeded, sorted choice of at most ``limit`` indices out of ``count`` (all when limit <= 0)."""
    if limit <= 0 or count <= limit:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, limit, replace=False))


def features_model(model, layer_name=FEATURES_LAYER):
    """A Keras model with two outputs: the named layer's output and the model's output.

    Raises:
        ValueError: the model has no layer of that name.
    """
    import keras

    try:
        layer = model.get_layer(layer_name)
    except ValueError:
        raise ValueError(f"model {model.name!r} has no layer named {layer_name!r}") from None
    return keras.Model(model.inputs, [layer.output, model.outputs[0]])


def extract_features(model, images, layer_name=FEATURES_LAYER, batch_size=256):
    """Runs a model over grayscale faces; returns its features and its outputs.

    Arguments:
        model: a Keras model with a layer named ``layer_name``.
        images: uint8 array (N, H, W); resized to the model's input.
        layer_name: the layer whose output is the embedding.
        batch_size: faces per call.

    Returns:
        (features float32 (N, D) (flattened), outputs float32 (N, K)).
    """
    from fer_core.inference.batch import fit_images

    both = features_model(model, layer_name)
    inputs = fit_images(images, model.input_shape[1])
    features, outputs = [], []
    for start in range(0, len(inputs), batch_size):
        f, o = both.predict_on_batch(inputs[start:start + batch_size])
        features.append(np.asarray(f, np.float32).reshape(len(f), -1))
        outputs.append(np.asarray(o, np.float32))
    if not features:
        return np.zeros((0, 0), np.float32), np.zeros((0, model.output_shape[-1]), np.float32)
    return np.concatenate(features), np.concatenate(outputs)


def project(features, method="pca", seed=0, perplexity=30.0):
    """Projects features to 2-D on one thread (see ``_project``).

    On these shared 2-core machines scikit-learn's OpenMP threads spin against
    each other: one thread made t-SNE of 60 points 60 times faster (0.2 s, not 12 s).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _project(features, method, seed, perplexity)


def _project(features, method="pca", seed=0, perplexity=30.0):
    """Projects features to 2-D.

    Arguments:
        features: array (N, D).
        method: "pca", "tsne" or "umap".
        seed: random state (t-SNE, UMAP, randomized PCA).
        perplexity: t-SNE perplexity (lowered for small N).

    Returns:
        float32 array (N, 2).
    """
    features = np.asarray(features, np.float64)
    n = len(features)
    if n == 0:
        return np.zeros((0, 2), np.float32)
    if n < 3 or features.shape[1] < 2:
        padded = np.zeros((n, 2))
        padded[:, :min(2, features.shape[1])] = features[:, :2]
        return padded.astype(np.float32)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(features).astype(np.float32)
    reduced = _pca_reduce(features, 50, seed)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(perplexity, max(2.0, (n - 1) / 3)))
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, max_iter=500, n_jobs=1)
        return tsne.fit_transform(reduced).astype(np.float32)
    if method == "umap":
        import umap

        return umap.UMAP(n_components=2, random_state=seed).fit_transform(reduced).astype(np.float32)
    raise ValueError(f"unknown projection {method!r}; choose one of {', '.join(projection_methods())}")


def _pca_reduce(features, components, seed):
    """PCA to at most ``components`` dimensions before t-SNE/UMAP (faster, less noise)."""
    from sklearn.decomposition import PCA

    k = min(components, features.shape[0], features.shape[1])
    if k >= features.shape[1]:
        return features
    return PCA(n_components=k, random_state=seed).fit_transform(features)


def disagreements(labels, predictions):
    """Where a model's prediction differs from the label.

    Arguments:
        labels: int array (N,), -1 where there is no label.
        predictions: int array (N,) of predicted classes, or (N, K) outputs (argmax is taken).

    Returns:
        bool array (N,): True where labelled and predicted != label.
    """
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    if predictions.ndim == 2:
        predictions = predictions.argmax(axis=1)
    return (labels >= 0) & (predictions != labels)


def label_mapping(label_names, model_label_names):
    """Each dataset class's position among a model's classes, matched by emotion name.

    Arguments:
        label_names: the dataset's class names (e.g. CK+'s anger, contempt, ..., happiness, ...).
        model_label_names: the model's (e.g. FER2013's angry, disgust, fear, happy, ...).

    Returns:
        int array (len(label_names),): the model's index of each class, -1 where the model
        does not have it (CK+'s contempt for a FER2013 model).
    """
    position = {canonical_emotion(name): i for i, name in enumerate(model_label_names)}
    return np.array([position.get(canonical_emotion(name), -1) for name in label_names], np.int64)


def labels_for_model(labels, label_names, model_label_names):
    """A dataset's int labels expressed as a model's class indices (by name); -1 where a sample has
    no label or one the model does not know."""
    mapping = np.append(label_mapping(label_names, model_label_names), -1)  # label -1 picks the appended -1
    return mapping[np.asarray(labels)]


@dataclass
class Embedding:
    """A projected sample of a dataset.

    Attributes:
        indices: positions of the samples in the dataset handed in.
        features: float32 (N, D) penultimate-layer features.
        coords: float32 (N, 2) projected points.
        outputs: float32 (N, K) model outputs (probabilities, or keypoints).
        predictions: int (N,) predicted class, an index into ``prediction_names``; or None for
            a keypoint model.
        disagree: bool (N,) the prediction is not the label, compared by name (False where the
            sample has no label, the model does not know its class, or there are no predictions).
        method: the projection used.
        prediction_names: the model's class names (empty without predictions).
    """

    indices: np.ndarray
    features: np.ndarray
    coords: np.ndarray
    outputs: np.ndarray
    predictions: np.ndarray
    disagree: np.ndarray
    method: str
    prediction_names: tuple = ()


def embed_samples(model, dataset, limit=1000, method="pca", seed=0, layer_name=FEATURES_LAYER,
                  label_names=None):
    """Features of a seeded sample of a dataset, projected to 2-D.

    Arguments:
        model: a Keras model with a ``features`` layer.
        dataset: a ``fer_core.data.Dataset`` (already the split wanted).
        limit: at most this many samples (0 = all).
        method: "pca", "tsne" or "umap".
        seed: sample choice and projection seed.
        layer_name: the embedding layer.
        label_names: the model's class names (its info file's ``label_names``), in its output
            order; default the dataset's. The labels are matched to them by emotion name.

    Returns:
        Embedding.
    """
    indices = sample_indices(len(dataset), limit, seed)
    features, outputs = extract_features(model, dataset.images[indices], layer_name)
    coords = project(features, method, seed)
    names = tuple(dataset.label_names if label_names is None else label_names)
    is_classifier = dataset.task != KEYPOINTS and len(names) > 0 and outputs.shape[-1] == len(names)
    if not is_classifier:
        return Embedding(indices, features, coords, outputs, None, np.zeros(len(indices), bool), method)
    predictions = outputs.argmax(axis=1)
    labels = labels_for_model(dataset.labels[indices], dataset.label_names, names)
    return Embedding(indices, features, coords, outputs, predictions, disagreements(labels, predictions), method,
                     names)
