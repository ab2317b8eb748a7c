"""tools/train_on_accelerator.py: packing, the backend-independent augmentation, the schedule,
and a small run end to end (here on the TensorFlow backend; on a GPU machine, JAX)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

import train_on_accelerator as tool  # noqa: E402

NAMES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def _faces(count, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, 48, 48), dtype=np.uint8)


def test_packed_images_and_labels_come_back_unchanged(tmp_path):
    train, val = _faces(300, 1), _faces(7, 2)
    tool.write_packed(tmp_path, {"train": (train, np.arange(300) % 7), "val": (val, np.arange(7))}, NAMES)
    x_train, y_train, x_val, y_val, names = tool.load_packed(tmp_path)
    assert x_train.shape == (300, 48, 48, 1) and x_train.dtype == np.float32
    assert np.array_equal(x_train[..., 0], train) and np.array_equal(x_val[..., 0], val)
    assert list(y_train[:8]) == [0, 1, 2, 3, 4, 5, 6, 0] and names == NAMES


def test_learning_rate_warms_up_then_decays_to_one_percent():
    rates = [tool.learning_rate_at(epoch, 100, 0.1, 2) for epoch in range(100)]
    assert rates[0] == pytest.approx(0.01) and rates[1] == pytest.approx(0.055)
    assert rates[2] == pytest.approx(0.1) and max(rates) == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(rates[2:], rates[3:])) and rates[-1] == pytest.approx(0.001, abs=2e-4)


def test_augmentation_without_ranges_only_flips():
    images = _faces(16).astype(np.float32)[..., None]
    out = np.asarray(tool.make_augmenter(0, 0, 0, 0, seed=1)(images, training=True))
    mirrored = [np.allclose(o, i[:, ::-1], atol=1e-3) for o, i in zip(out, images)]
    same = [np.allclose(o, i, atol=1e-3) for o, i in zip(out, images)]
    assert all(m or s for m, s in zip(mirrored, same)) and 0 < sum(mirrored) < 16
    assert np.array_equal(tool.make_augmenter(15, 0.15, 0.15, 0.5, seed=1)(images, training=False), images)


def test_augmentation_warps_like_fer_core_augment():
    import keras
    import tensorflow as tf

    from fer_core.data import augment

    images = _faces(4).astype(np.float32)[..., None]
    forward, _ = augment.random_affine(4, 48, augment.Augmentation(rotation=15, shift=0.15, zoom=0.15), seed=3)
    expected = augment.transform_images(tf.constant(images), forward).numpy()
    inverse = np.linalg.inv(forward.numpy())
    flat = (inverse.reshape(4, 9)[:, :8] / inverse[:, 2:3, 2]).astype(np.float32)
    warped = keras.ops.image.affine_transform(images, flat, interpolation="bilinear", fill_mode="nearest")
    assert np.abs(np.asarray(warped) - expected).max() < 0.01


def test_augmentation_erases_about_the_asked_share_of_images():
    images = np.full((400, 48, 48, 1), 128.0, np.float32)
    out = np.asarray(tool.make_augmenter(0, 0, 0, 0.5, seed=2)(images, training=True))
    erased = (np.abs(out - 128.0) > 1e-3).any(axis=(1, 2, 3))
    assert 0.4 < erased.mean() < 0.6
    assert out.min() >= 0.0 and out.max() <= 255.0


def test_a_small_run_writes_history_config_and_weights_that_fer_core_models_load(tmp_path):
    from fer_core.training.zoo import build_model

    packed, out = tmp_path / "packed", tmp_path / "out"
    tool.write_packed(packed, {"train": (_faces(96, 3), np.arange(96) % 7), "val": (_faces(32, 4), np.arange(32) % 7)},
                      NAMES)
    np.savez(packed / "teacher.npz", outputs=np.full((96, 7), 1 / 7, np.float32))
    tool.main(["train", "--data", str(packed), "--out", str(out), "--model", "resnet10", "--epochs", "2",
               "--batch-size", "32", "--teacher", str(packed / "teacher.npz")])
    config = json.loads((out / "config.json").read_text())
    assert config["epochs_run"] == 2 and config["backend"] == "tensorflow" and config["params"] == 4_906_311
    history = (out / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,") and len(history) == 3
    model = build_model("resnet10")
    model.load_weights(out / "best.weights.h5")
    assert np.asarray(model.predict_on_batch(np.zeros((1, 48, 48, 1), np.float32))).shape == (1, 7)


def _averaged_run(tmp_path):
    """A 3-epoch emotion_cnn run on random faces that averages its last two epochs; returns its out folder."""
    packed, out = tmp_path / "packed", tmp_path / "out"
    tool.write_packed(packed, {"train": (_faces(64, 5), np.arange(64) % 7), "val": (_faces(32, 6), np.arange(32) % 7)},
                      NAMES)
    tool.main(["train", "--data", str(packed), "--out", str(out), "--model", "emotion_cnn", "--epochs", "3",
               "--batch-size", "32", "--average-last", "0.67"])
    return out


def test_average_last_saves_the_mean_of_the_last_epochs_weights(tmp_path):
    from fer_core.training.zoo import build_model

    assert [tool.first_averaged_epoch(100, share) for share in (0.25, 0.5, 1.0)] == [76, 51, 1]
    out = _averaged_run(tmp_path)
    average = json.loads((out / "config.json").read_text())["average"]
    assert (average["first"], average["last"], average["count"]) == (2, 3, 2) and 0 <= average["val"] <= 1
    model = build_model("emotion_cnn")
    model.load_weights(out / "average.weights.h5")
    last = build_model("emotion_cnn")
    last.load_weights(out / "last.weights.h5")
    assert not np.allclose(model.get_weights()[0], last.get_weights()[0]), "the mean is not the last epoch"


def test_record_average_makes_a_run_record_of_the_mean(tmp_path, data_root):
    out = _averaged_run(tmp_path)
    files = ["--history", str(out / "history.csv"), "--config", str(out / "config.json")]
    tool.main(["record", "--weights", str(out / "average.weights.h5"), "--average", *files,
               "--run-dir", str(tmp_path / "run")])
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["weight_average"]["count"] == 2 and metrics["n"] == 3589
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert "--average-last 0.67" in config["extra"]["train_command"]
    plain = json.loads((out / "config.json").read_text())
    del plain["average"]
    (out / "config.json").write_text(json.dumps(plain))
    with pytest.raises(SystemExit, match="averaged no weights"):
        tool.main(["record", "--weights", str(out / "average.weights.h5"), "--average", *files,
                   "--run-dir", str(tmp_path / "run2")])


def test_gpu_train_command_repeats_the_resolved_epochs_and_teacher():
    config = {"model": "resnet18", "epochs": 380, "batch_size": 128, "lr": 0.1, "weight_decay": 0.005,
              "warmup_epochs": 2, "label_smoothing": 0.1, "rotation": 15.0, "shift": 0.15, "zoom": 0.15,
              "erase": 0.5, "seed": 0, "teacher": "", "distill": 0.5, "minutes": 20.0}
    command = tool.gpu_train_command(config)
    assert "--model resnet18 --epochs 380 --batch-size 128 --lr 0.1" in command
    assert "--minutes" not in command and "--teacher" not in command
    assert "--teacher t.npz --distill 0.5" in tool.gpu_train_command({**config, "teacher": "t.npz"})
    assert tool.gpu_train_command({**config, "average_last": 0.25}).endswith(" --average-last 0.25")
    assert tool.gpu_train_command({**config, "init_from": "assets/runs/a/model.keras"}).endswith(
        " --init-from assets/runs/a/model.keras")
    assert "record --weights OUT/average.weights.h5 --average " in tool.recorded_command(config, "r", average=True)


def test_init_from_starts_the_run_from_the_given_weights(tmp_path):
    from fer_core.training.zoo import build_model

    out = _averaged_run(tmp_path)
    source = build_model("emotion_cnn")
    source.load_weights(out / "last.weights.h5")
    source.save(tmp_path / "source.keras")
    for init_from in (str(out / "last.weights.h5"), str(tmp_path / "source.keras")):
        tuned = tmp_path / f"tuned-{Path(init_from).suffix}"
        tool.main(["train", "--data", str(tmp_path / "packed"), "--out", str(tuned), "--model", "emotion_cnn",
                   "--epochs", "1", "--batch-size", "32", "--lr", "0", "--init-from", init_from])
        model = build_model("emotion_cnn")
        model.load_weights(tuned / "last.weights.h5")
        assert np.allclose(model.get_weights()[0], source.get_weights()[0]), "a learning rate of 0 keeps the start"
        assert json.loads((tuned / "config.json").read_text())["init_from"] == init_from
