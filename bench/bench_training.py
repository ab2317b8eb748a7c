"""Benchmark: training throughput of the zoo's FER2013 classifiers on this CPU, and their
inference latency per face through LiteRT.

For each model: images per second of Keras ``fit`` (batch 64, Adam, random 48x48 images,
after a warm-up), the seconds one FER2013 epoch (28,709 images) would take at that rate,
and the median milliseconds of one face through LiteRT, float32 and int8. The reference
is mini_xception, measured in the same run: ``x mini_xception`` is its throughput over
each model's. Use it to choose what a session can train: an epoch count times the epoch
seconds must fit in the time left.

    python bench/bench_training.py [--models mini_xception,resnet10] [--steps 40]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FER2013_TRAINING_IMAGES = 28_709
BATCH = 64
REFERENCE = "mini_xception"
DEFAULT_MODELS = ("mini_xception", "emotion_cnn", "lenet5", "resnet10", "vgg_fer")


def training_images_per_second(name, steps):
    """Images per second of one Keras fit epoch of ``steps`` batches (after a warm-up)."""
    import keras
    import tensorflow as tf

    from fer_core.training.zoo import build_model

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (BATCH * steps, 48, 48, 1)).astype(np.float32)
    labels = np.eye(7, dtype=np.float32)[rng.integers(0, 7, len(images))]
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(BATCH).prefetch(2)
    model = build_model(name)
    model.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.take(5), epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(data, epochs=1, verbose=0)
    return len(images) / (time.perf_counter() - start), model


def litert_ms(model, int8):
    """Median ms of one face through LiteRT for an untrained model converted to TFLite."""
    from fer_core.training.export import convert_to_tflite
    from fer_core.inference.runtime import LiteRTModel, median_latency_ms

    calibration = np.random.default_rng(1).integers(0, 256, (20, 48, 48), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.tflite"
        path.write_bytes(convert_to_tflite(model, int8=int8, representative_images=calibration))
        return median_latency_ms(LiteRTModel(path), 48, repeat=200)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated zoo models")
    parser.add_argument("--steps", type=int, default=40, help="timed batches of 64 per model")
    args = parser.parse_args()
    names = [REFERENCE] + [n for n in args.models.split(",") if n != REFERENCE]
    print(f"{'model':<15} {'params':>10} {'img/s':>7} {'epoch s':>8} {'x ' + REFERENCE:>16} "
          f"{'LiteRT ms':>10} {'int8 ms':>8}")
    reference = None
    for name in names:
        rate, model = training_images_per_second(name, args.steps)
        reference = reference or rate
        print(f"{name:<15} {model.count_params():>10,} {rate:>7.0f} {FER2013_TRAINING_IMAGES / rate:>8.0f} "
              f"{reference / rate:>16.2f} {litert_ms(model, False):>10.3f} {litert_ms(model, True):>8.3f}",
              flush=True)


if __name__ == "__main__":
    main()
