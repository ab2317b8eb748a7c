"""The model zoo: every network of the five tutorials, built by name.

All models take float32 images in 0..255, shape (N, H, W, 1); scaling to
0..1 happens inside the model, so training, evaluation and inference feed the
same pixels. The layer before the output is named ``features`` (the
embedding the dataset browser projects). Classifiers end in a softmax over
``num_classes``; the keypoint regressor outputs (N, 30) coordinates in pixels
of its input, ordered as ``config.KEYPOINT_COLUMNS``.
"""

import keras
from keras import layers, regularizers

from fer_core.config import KEYPOINT_COLUMNS, MODEL_NAMES


# Batch-norm momentum for the keypoint set's 47 steps an epoch: Keras' default 0.99 made the
# moving statistics lag so far behind the weights that inference-mode error was 2.7x the
# training-mode error after 5 epochs (7.4 against 2.7 px); 0.9 follows within a few steps.
BN_MOMENTUM_SMALL_DATA = 0.9


def _inputs(input_shape):
    inputs = keras.Input(shape=input_shape, name="image")
    return inputs, layers.Rescaling(1.0 / 255.0, name="scale")(inputs)


def _classifier_head(x, num_classes):
    return layers.Dense(num_classes, activation="softmax", name="probabilities")(x)


def lenet5(input_shape=(48, 48, 1), num_classes=7):
    """LeNet-5 variant of the CK+ tutorial: conv5x5x32, pool, conv5x5x64, pool, FC512, dropout."""
    inputs, x = _inputs(input_shape)
    x = layers.Conv2D(32, 5, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 5, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(512, activation="relu", name="features")(x)
    x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, _classifier_head(x, num_classes), name="lenet5")


def emotion_cnn(input_shape=(48, 48, 1), num_classes=7, l2=1e-4):
    """The TF1 "emotion_cnn": conv5x5x32, pool, conv3x3x64, pool, FC256, dropout, L2 on weights."""
    reg = regularizers.L2(l2)
    inputs, x = _inputs(input_shape)
    x = layers.Conv2D(32, 5, padding="same", activation="relu", kernel_regularizer=reg)(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", kernel_regularizer=reg)(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu", kernel_regularizer=reg, name="features")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(num_classes, activation="softmax", kernel_regularizer=reg, name="probabilities")(x)
    return keras.Model(inputs, outputs, name="emotion_cnn")


def vgg_fer(input_shape=(48, 48, 1), num_classes=7):
    """VGG-style CNN of the TFLite tutorial: 64-64-128-128-256-256 conv with BN, dense 128."""
    inputs, x = _inputs(input_shape)
    for filters in (64, 128, 256):
        for _ in range(2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu", name="features")(x)
    x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, _classifier_head(x, num_classes), name="vgg_fer")


def _separable_block(x, filters, reg=None, bn_momentum=0.99):
    """Residual depthwise-separable module of mini-Xception: two separable convs, a
    stride-2 max pool, and a strided 1x1 conv on the shortcut. Halves H and W."""
    residual = layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(x)
    residual = layers.BatchNormalization(momentum=bn_momentum)(residual)
    x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False,
                               depthwise_regularizer=reg, pointwise_regularizer=reg)(x)
    x = layers.BatchNormalization(momentum=bn_momentum)(x)
    x = layers.Activation("relu")(x)
    x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False,
                               depthwise_regularizer=reg, pointwise_regularizer=reg)(x)
    x = layers.BatchNormalization(momentum=bn_momentum)(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    return layers.Add()([x, residual])


def mini_xception(input_shape=(48, 48, 1), num_classes=7, l2=0.01):
    """mini-Xception (Arriaga et al. 2017): two 8-filter convs, four residual
    depthwise-separable modules (16, 32, 64, 128), a class-wise conv and global average pooling."""
    reg = regularizers.L2(l2)
    inputs, x = _inputs(input_shape)
    for _ in range(2):
        x = layers.Conv2D(8, 3, use_bias=False, kernel_regularizer=reg)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
    for filters in (16, 32, 64, 128):
        x = _separable_block(x, filters, reg)
    x = layers.Conv2D(num_classes, 3, padding="same", name="class_maps")(x)
    x = layers.GlobalAveragePooling2D(name="features")(x)
    outputs = layers.Activation("softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mini_xception")


def _conv_bn_relu(x, filters, strides=1):
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def _basic_residual_block(x, filters, strides):
    """ResNet's basic block: two 3x3 convs with BN, and a 1x1 projection on the shortcut
    when the shape changes."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False)(x)
        shortcut = layers.BatchNormalization()(shortcut)
    y = _conv_bn_relu(x, filters, strides)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    return layers.Activation("relu")(layers.Add()([y, shortcut]))


def _resnet(name, input_shape, num_classes, blocks, widths=(64, 128, 256, 512), dropout=0.2):
    """A ResNet for 48x48 faces: a 3x3 stem at full resolution and a 2x2 max pool, then
    ``blocks[i]`` basic residual blocks at ``widths[i]`` filters per stage (24, 12, 6 and 3
    pixels), global average pooling and dropout."""
    inputs, x = _inputs(input_shape)
    x = _conv_bn_relu(x, widths[0])
    x = layers.MaxPooling2D(2)(x)
    for stage, (count, filters) in enumerate(zip(blocks, widths)):
        for block in range(count):
            x = _basic_residual_block(x, filters, strides=2 if stage > 0 and block == 0 else 1)
    x = layers.GlobalAveragePooling2D(name="features")(x)
    x = layers.Dropout(dropout)(x)
    return keras.Model(inputs, _classifier_head(x, num_classes), name=name)


def resnet10(input_shape=(48, 48, 1), num_classes=7):
    """ResNet-10: one basic block per stage (64, 128, 256, 512 filters).

    Not one of the tutorials' nets: the zoo's accuracy model (about 4.9M weights, 0.4-3.4 ms per
    face in LiteRT int8, by CPU), trainable on a CPU in a session because it downsamples after the stem.
    """
    return _resnet("resnet10", input_shape, num_classes, blocks=(1, 1, 1, 1))


def resnet18(input_shape=(48, 48, 1), num_classes=7):
    """ResNet-18: two basic blocks per stage (about 11.2M weights); for training on a GPU."""
    return _resnet("resnet18", input_shape, num_classes, blocks=(2, 2, 2, 2))


def keypoint_cnn(input_shape=(96, 96, 1), num_classes=len(KEYPOINT_COLUMNS)):
    """The Kaggle facial-keypoints regressor: conv 32/64/128 with pooling, FC 500-500-30.

    Outputs pixel coordinates of the input crop: the last dense layer predicts
    coordinates in [-1, 1] around the centre, rescaled to pixels inside the model.
    """
    inputs, x = _inputs(input_shape)
    for filters, kernel in ((32, 3), (64, 2), (128, 2)):
        x = layers.Conv2D(filters, kernel, activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(0.1)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(500, activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(500, activation="relu", name="features")(x)
    x = layers.Dense(num_classes, name="normalized_keypoints")(x)
    half = input_shape[0] / 2.0
    outputs = layers.Rescaling(half, offset=half, name="keypoints")(x)
    return keras.Model(inputs, outputs, name="keypoint_cnn")


def keypoint_xception(input_shape=(96, 96, 1), num_classes=len(KEYPOINT_COLUMNS)):
    """A CPU-fast keypoint regressor: a stride-2 stem, four residual separable modules
    (32, 64, 128, 256) down to a 3x3 map, then a small dense head.

    About 1/30 of keypoint_cnn's weights and multiply-adds (the tutorial's net spends
    them in its 8M-weight dense layers). Same output as keypoint_cnn: pixel coordinates
    of the input crop, ordered as ``config.KEYPOINT_COLUMNS``.
    """
    inputs, x = _inputs(input_shape)
    x = layers.Conv2D(24, 3, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM_SMALL_DATA)(x)
    x = layers.Activation("relu")(x)
    for filters in (32, 64, 128, 256):
        x = _separable_block(x, filters, bn_momentum=BN_MOMENTUM_SMALL_DATA)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Dense(256, activation="relu", name="features")(x)
    # Zero-initialised: training starts from every point at the crop centre instead of
    # from random outputs tens of pixels off, whose gradients would kill the ReLUs above.
    x = layers.Dense(num_classes, kernel_initializer="zeros", name="normalized_keypoints")(x)
    half = input_shape[0] / 2.0
    outputs = layers.Rescaling(half, offset=half, name="keypoints")(x)
    return keras.Model(inputs, outputs, name="keypoint_xception")


# name -> (builder, task, default input side)
MODELS = {
    "lenet5": (lenet5, "classification", 48),
    "emotion_cnn": (emotion_cnn, "classification", 48),
    "vgg_fer": (vgg_fer, "classification", 48),
    "mini_xception": (mini_xception, "classification", 48),
    "resnet10": (resnet10, "classification", 48),
    "resnet18": (resnet18, "classification", 48),
    "keypoint_cnn": (keypoint_cnn, "keypoints", 96),
    "keypoint_xception": (keypoint_xception, "keypoints", 96),
}
assert tuple(MODELS) == MODEL_NAMES, "keep config.MODEL_NAMES in step with the zoo"


def model_task(name):
    """Returns "classification" or "keypoints" for a zoo model name."""
    return _entry(name)[1]


def default_input_size(name):
    """Returns the input side a zoo model is built for by default."""
    return _entry(name)[2]


def _entry(name):
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]


def build_model(name, input_shape=None, num_classes=7):
    """Builds a zoo model by name.

    Arguments:
        name: one of MODELS.
        input_shape: (H, W, 1); default (S, S, 1) with the model's default side S.
        num_classes: classes of a classifier (ignored by keypoint models, which output 30).

    Returns:
        an uncompiled keras.Model.
    """
    builder, task, side = _entry(name)
    input_shape = tuple(input_shape or (side, side, 1))
    if task == "keypoints":
        return builder(input_shape)
    return builder(input_shape, num_classes)
