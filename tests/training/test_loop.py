"""Training: every zoo model trains a short epoch on real data; run records are complete;
a run killed with SIGKILL resumes without losing or duplicating history rows."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from fer_core.errors import RunError
from fer_core.runs.recording import train_run
from fer_core.training.loop import TrainConfig, prepare_splits

RECORD_FILES = {"config.json", "state.json", "history.csv", "model.keras", "model_info.json",
                "metrics.json", "predictions.csv", "summary.txt"}


@pytest.mark.parametrize("model, data", [
    ("lenet5", "ckplus48"), ("emotion_cnn", "fer2013-sample"), ("vgg_fer", "fer2013-sample"),
    ("mini_xception", "fer2013-sample"), ("keypoint_cnn", "keypoints"), ("keypoint_xception", "keypoints")])
def test_every_zoo_model_trains_one_short_epoch(tmp_path, data_root, model, data):
    config = TrainConfig(model=model, data=data, epochs=1, batch_size=32, limit=64)
    metrics = train_run(config, tmp_path / "run", verbose=0)
    run = tmp_path / "run"
    assert RECORD_FILES <= {p.name for p in run.iterdir()}
    assert (run / "tensorboard").is_dir() and any((run / "tensorboard").rglob("*tfevents*"))
    history = pd.read_csv(run / "history.csv")
    assert history.epoch.tolist() == [1] and {"loss", "val_loss", "lr", "seconds"} <= set(history.columns)
    assert metrics["n"] == 64 and metrics["ms_per_face"] > 0
    if model.startswith("keypoint"):
        assert 0 < metrics["rmse"] < 96 and set(metrics["per_keypoint"]) and "val_rmse" in history
    else:
        assert 0 <= metrics["accuracy"] <= 1 and "macro_f1" in metrics and "val_accuracy" in history
        assert np.array(metrics["confusion_matrix"]).sum() == 64
        predictions = pd.read_csv(run / "predictions.csv")
        assert len(predictions) == 64 and {"id", "predicted", "confidence"} <= set(predictions.columns)
        assert "label" not in predictions.columns, "the test labels stay in FER_DATA_DIR"


def test_run_record_is_reproducible_from_its_config(tmp_path, data_root):
    config = TrainConfig(model="mini_xception", data="fer2013-sample", epochs=2, limit=96, label_smoothing=0.1,
                         class_weights=True)
    train_run(config, tmp_path / "run", verbose=0)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert TrainConfig.from_dict(saved) == config
    import zipfile

    with zipfile.ZipFile(tmp_path / "run" / "model.keras") as kept:
        assert "optimizer" not in kept.read("model.weights.h5").decode("latin-1"), "weights only"
    info = json.loads((tmp_path / "run" / "model_info.json").read_text())
    assert info["task"] == "classification" and info["input_size"] == 48 and len(info["label_names"]) == 7
    with pytest.raises(RunError, match="already holds a run"):
        train_run(config, tmp_path / "run", verbose=0)


def test_model_and_dataset_task_must_agree(tmp_path, data_root):
    with pytest.raises(RunError, match="is for keypoints"):
        train_run(TrainConfig(model="keypoint_cnn", data="fer2013-sample", epochs=1, limit=32), tmp_path / "r", verbose=0)


def _epochs(run):
    return pd.read_csv(run / "history.csv").epoch.tolist()


def test_killed_run_resumes_from_its_last_finished_epoch(tmp_path, data_root):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "fer_core", "train", "--model", "mini_xception", "--data", "fer2013-sample",
               "--epochs", "4", "--limit", "256", "--patience", "0", "--run-dir", str(run)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    deadline = time.time() + 240
    while time.time() < deadline:
        state = run / "state.json"
        if state.exists() and json.loads(state.read_text())["epoch"] >= 1:
            break
        time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("the first epoch did not finish in time")
    process.send_signal(signal.SIGKILL)
    process.wait()
    state = json.loads((run / "state.json").read_text())  # the commit point
    finished = state["epoch"]
    assert 1 <= finished < 4 and [row["epoch"] for row in state["history"]] == list(range(1, finished + 1))
    # history.csv is derived from state.json and written just after it: a kill may leave it one epoch behind.
    shown = _epochs(run) if (run / "history.csv").exists() else []
    assert shown in (list(range(1, finished + 1)), list(range(1, finished)))
    assert not (run / "metrics.json").exists()
    result = subprocess.run(command + ["--resume"], capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert _epochs(run) == [1, 2, 3, 4]
    assert json.loads(result.stdout.strip().splitlines()[-1])["n"] == 100
    checkpoints = list((run / "checkpoints").glob("*.keras"))
    assert [p.name for p in checkpoints] == ["epoch-0004.keras"]


def test_finish_now_evaluates_an_unfinished_run_without_training(tmp_path, data_root):
    config = TrainConfig(model="emotion_cnn", data="fer2013-sample", epochs=1, limit=64, patience=0)
    train_run(config, tmp_path / "run", verbose=0)
    (tmp_path / "run" / "metrics.json").unlink()
    (tmp_path / "run" / "model_card.md").write_text("# Model card: run\n\nAccuracy **12.34%**\n")
    longer = TrainConfig(model="emotion_cnn", data="fer2013-sample", epochs=5)
    metrics = train_run(longer, tmp_path / "run", resume=True, finish_now=True, verbose=0)
    assert metrics["epochs_run"] == 1 and _epochs(tmp_path / "run") == [1]
    assert not (tmp_path / "run" / "model_card.md").exists()  # its figures were the earlier ones
    assert json.loads((tmp_path / "run" / "config.json").read_text())["epochs"] == 5


def test_init_from_starts_a_run_from_another_models_weights(tmp_path, data_root):
    import keras

    first = TrainConfig(model="emotion_cnn", data="fer2013-sample", epochs=1, limit=64, patience=0)
    train_run(first, tmp_path / "first", verbose=0)
    source = tmp_path / "first" / "model.keras"
    # at learning rate 0 the trainable weights cannot move, so they end where they started
    frozen = TrainConfig(model="emotion_cnn", data="fer2013-sample", epochs=1, limit=64, patience=0,
                         learning_rate=0.0, schedule="constant", init_from=str(source))
    train_run(frozen, tmp_path / "second", verbose=0)
    before = keras.models.load_model(source).trainable_weights
    after = keras.models.load_model(tmp_path / "second" / "model.keras").trainable_weights
    assert len(before) == len(after)
    for b, a in zip(before, after):
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a))


def test_init_from_a_classifier_with_other_classes_keeps_all_but_its_output_layer(tmp_path):
    from fer_core.training.loop import HEAD_LAYER, load_initial_weights
    from fer_core.training.zoo import build_model

    seven = build_model("emotion_cnn", (48, 48, 1), 7)
    seven.save(tmp_path / "seven.keras")
    eight = build_model("emotion_cnn", (48, 48, 1), 8)
    fresh_head = eight.get_layer(HEAD_LAYER).get_weights()
    assert load_initial_weights(eight, tmp_path / "seven.keras") == [HEAD_LAYER]
    assert np.array_equal(eight.get_layer("features").get_weights()[0], seven.get_layer("features").get_weights()[0])
    assert np.array_equal(eight.get_layer(HEAD_LAYER).get_weights()[0], fresh_head[0])
    assert load_initial_weights(build_model("emotion_cnn", (48, 48, 1), 7), tmp_path / "seven.keras") == []


def test_init_from_refuses_a_missing_file_or_another_architecture(tmp_path, data_root):
    with pytest.raises(RunError, match="no such model file"):
        train_run(TrainConfig(model="emotion_cnn", data="fer2013-sample", epochs=1, limit=32,
                          init_from=str(tmp_path / "absent.keras")), tmp_path / "a", verbose=0)
    train_run(TrainConfig(model="mini_xception", data="fer2013-sample", epochs=1, limit=32), tmp_path / "mini", verbose=0)
    with pytest.raises(RunError, match="architecture differs"):
        train_run(TrainConfig(model="emotion_cnn", data="fer2013-sample", epochs=1, limit=32,
                          init_from=str(tmp_path / "mini" / "model.keras")), tmp_path / "b", verbose=0)


def test_mixup_blends_the_training_batches_only(data_root):
    from fer_core.training.loop import make_tf_dataset

    config = TrainConfig(model="emotion_cnn", data="fer2013-sample", limit=64, mixup=0.4)
    train_set, val_set, _ = prepare_splits(config)
    _, train_targets = next(iter(make_tf_dataset(train_set, config, 48, training=True)))
    _, val_targets = next(iter(make_tf_dataset(val_set, config, 48, training=False)))
    assert (train_targets.numpy().max(axis=1) < 0.999).any(), "training targets are blended"
    assert set(np.unique(val_targets.numpy())) == {0.0, 1.0}, "validation targets stay one-hot"


def test_mixup_trains_classifiers_and_refuses_keypoints(tmp_path, data_root):
    config = TrainConfig(model="emotion_cnn", data="fer2013-sample", epochs=1, limit=64, mixup=0.2)
    assert train_run(config, tmp_path / "run", verbose=0)["n"] == 64
    assert json.loads((tmp_path / "run" / "config.json").read_text())["mixup"] == 0.2
    with pytest.raises(RunError, match="do not apply to keypoint"):
        train_run(TrainConfig(model="keypoint_cnn", data="keypoints", epochs=1, limit=32, mixup=0.2),
              tmp_path / "k", verbose=0)
    with pytest.raises(RunError, match="must be positive"):
        train_run(TrainConfig(model="emotion_cnn", data="fer2013-sample", epochs=1, limit=32, mixup=-1),
              tmp_path / "n", verbose=0)


def test_distillation_blends_the_averaged_teachers_into_the_training_targets(tmp_path, data_root):
    from fer_core.inference.batch import predict_dataset
    from fer_core.inference.runtime import load_keras_model
    from fer_core.training.loop import make_tf_dataset, teacher_outputs

    train_run(TrainConfig(model="emotion_cnn", data="fer2013-sample", epochs=1, limit=64), tmp_path / "a", verbose=0)
    train_run(TrainConfig(model="mini_xception", data="fer2013-sample", epochs=1, limit=64), tmp_path / "b", verbose=0)
    teachers = [str(tmp_path / "a" / "model.keras"), str(tmp_path / "b" / "model.keras")]
    config = TrainConfig(model="emotion_cnn", data="fer2013-sample", limit=64, teachers=teachers, distill=0.3)
    train_set, _, _ = prepare_splits(config)
    taught = teacher_outputs(teachers, train_set)
    expected = np.mean([predict_dataset(load_keras_model(p), train_set, flip_tta=True) for p in teachers], axis=0)
    np.testing.assert_allclose(taught, expected, rtol=1e-5, atol=1e-6)
    _, targets = next(iter(make_tf_dataset(train_set, config, 48, training=False, teacher=taught)))
    hard = np.eye(7, dtype=np.float32)[train_set.labels[:len(targets)]]
    np.testing.assert_allclose(targets.numpy(), 0.7 * hard + 0.3 * taught[:len(targets)], atol=1e-6)
    metrics = train_run(config, tmp_path / "student", verbose=0)
    assert metrics["n"] == 64
    assert json.loads((tmp_path / "student" / "config.json").read_text())["teachers"] == teachers


def test_teacher_outputs_are_cached_until_a_teacher_changes(tmp_path, data_root, monkeypatch):
    import fer_core.training.loop as training

    train_run(TrainConfig(model="emotion_cnn", data="fer2013-sample", epochs=1, limit=32), tmp_path / "a", verbose=0)
    teacher = tmp_path / "a" / "model.keras"
    train_set, _, _ = prepare_splits(TrainConfig(model="emotion_cnn", data="fer2013-sample", limit=32))
    cache = tmp_path / "run" / "checkpoints" / "teacher_outputs.npz"
    first = training.cached_teacher_outputs(cache, [str(teacher)], train_set)
    assert first.shape == (32, 7) and cache.is_file()

    def no_teacher_run(*args):
        raise AssertionError("teachers ran again")

    monkeypatch.setattr(training, "teacher_outputs", no_teacher_run)
    np.testing.assert_array_equal(training.cached_teacher_outputs(cache, [str(teacher)], train_set), first)
    os.utime(teacher, ns=(teacher.stat().st_atime_ns, teacher.stat().st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="teachers ran again"):
        training.cached_teacher_outputs(cache, [str(teacher)], train_set)


def test_distillation_refuses_bad_teachers(tmp_path, data_root):
    def student(**kwargs):
        return TrainConfig(model="emotion_cnn", data="fer2013-sample", epochs=1, limit=32, **kwargs)

    with pytest.raises(RunError, match="no such model file"):
        train_run(student(teachers=[str(tmp_path / "absent.keras")]), tmp_path / "a", verbose=0)
    with pytest.raises(RunError, match="between 0 and 1"):
        train_run(student(distill=1.5), tmp_path / "b", verbose=0)
    train_run(TrainConfig(model="keypoint_cnn", data="keypoints", epochs=1, limit=32), tmp_path / "kp", verbose=0)
    with pytest.raises(RunError, match="outputs 30 values"):
        train_run(student(teachers=[str(tmp_path / "kp" / "model.keras")]), tmp_path / "c", verbose=0)


def test_mirrored_strategy_trains(tmp_path, data_root):
    config = TrainConfig(model="emotion_cnn", data="fer2013-sample", epochs=1, limit=64, strategy="mirrored")
    assert train_run(config, tmp_path / "run", verbose=0)["n"] == 64


def test_kaggle_keypoint_rows_with_missing_points_still_train(tmp_path):
    from fer_core.config import KEYPOINT_COLUMNS

    rng = np.random.default_rng(0)
    rows = []
    for i in range(48):
        row = {c: float(rng.uniform(20, 76)) for c in KEYPOINT_COLUMNS}
        if i % 3:  # two thirds of the rows lack all but 4 points, as in Kaggle's training.csv
            row.update({c: np.nan for c in KEYPOINT_COLUMNS[8:]})
        row["Image"] = " ".join(map(str, rng.integers(0, 256, 96 * 96)))
        rows.append(row)
    pd.DataFrame(rows).to_csv(tmp_path / "training.csv", index=False)
    config = TrainConfig(model="keypoint_cnn", data=f"kaggle-keypoints:{tmp_path / 'training.csv'}", epochs=1,
                         batch_size=16)
    metrics = train_run(config, tmp_path / "run", verbose=0)
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert np.isfinite(history.loss).all() and np.isfinite(metrics["rmse"])


def test_history_before_the_first_epoch_is_an_empty_table(tmp_path):
    from fer_core.training.loop import write_history

    write_history(tmp_path, [])
    assert pd.read_csv(tmp_path / "history.csv").epoch.tolist() == []


class Killed(BaseException):
    """A kill at a chosen point of an epoch's commit (nothing after it runs, as after SIGKILL)."""


def _weights(path):
    import keras

    return keras.models.load_model(path, compile=False).get_weights()


def _same_weights(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def _logged_steps(log_dir, tag):
    import tensorflow as tf

    return sorted(event.step for path in sorted(log_dir.glob("*tfevents*"))
                  for event in tf.compat.v1.train.summary_iterator(str(path))
                  if any(value.tag == tag for value in event.summary.value))


def test_a_kill_before_the_commit_leaves_the_committed_model_and_resume_cleans_up(tmp_path, data_root, monkeypatch):
    import fer_core.training.loop as loop

    run = tmp_path / "run"
    monkeypatch.setattr(loop, "_is_better", lambda value, best, mode: True)  # every epoch is a better model
    commit = loop.write_json_atomic

    def killed_at_the_second_commit(path, obj):
        if path.name == "state.json" and obj["epoch"] == 2:
            # what a SIGKILL inside the next checkpoint's model.save leaves
            (run / "checkpoints" / ".epoch-0003.tmp.keras").write_bytes(b"")
            raise Killed()
        commit(path, obj)

    monkeypatch.setattr(loop, "write_json_atomic", killed_at_the_second_commit)
    config = TrainConfig(model="emotion_cnn", data="fer2013-sample", epochs=3, limit=32, patience=0)
    with pytest.raises(Killed):
        train_run(config, run, verbose=0)
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 1 and state["best_epoch"] == 1
    # model.keras is still epoch 1's (the checkpoint of the committed epoch holds the same weights)
    assert _same_weights(_weights(run / "model.keras"), _weights(run / "checkpoints" / "epoch-0001.keras"))
    assert _logged_steps(run / "tensorboard" / "train", "epoch_loss") == [0, 1], "epoch 2 was logged, not committed"

    monkeypatch.setattr(loop, "write_json_atomic", commit)
    metrics = train_run(config, run, resume=True, verbose=0)
    assert _epochs(run) == [1, 2, 3] and metrics["best_epoch"] == 3
    assert _logged_steps(run / "tensorboard" / "train", "epoch_loss") == [0, 1, 2], "each epoch logged once"
    assert _logged_steps(run / "tensorboard" / "validation", "epoch_loss") == [0, 1, 2]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch-0003.keras", "run.lock"]
    assert _same_weights(_weights(run / "model.keras"), _weights(run / "checkpoints" / "epoch-0003.keras"))


def test_recovery_promotes_a_committed_model_and_deletes_what_no_commit_names(tmp_path):
    from fer_core.training.loop import recover_interrupted_run

    run, checkpoints = tmp_path, tmp_path / "checkpoints"
    checkpoints.mkdir()
    files = {"model.keras": "epoch 1", "checkpoints/model-epoch-0002.keras": "epoch 2",  # killed before the rename
             "checkpoints/model-epoch-0003.keras": "epoch 3",                           # killed before the commit
             "checkpoints/epoch-0001.keras": "", "checkpoints/epoch-0002.keras": "", "checkpoints/epoch-0003.keras": "",
             "checkpoints/.epoch-0004.tmp.keras": "", ".state.json.k3j2.tmp": "{", "checkpoints/run.lock": "",
             "checkpoints/teacher_outputs.npz": "t", "history.csv": "epoch\n1\n2\n"}
    for name, text in files.items():
        (run / name).write_text(text)
    state = {"epoch": 2, "best_epoch": 2, "checkpoint": "checkpoints/epoch-0002.keras"}
    recover_interrupted_run(run, state, steps_per_epoch=1)
    assert (run / "model.keras").read_text() == "epoch 2"
    assert sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()) == [
        "checkpoints/epoch-0002.keras", "checkpoints/run.lock", "checkpoints/teacher_outputs.npz", "history.csv",
        "model.keras"]
    # a weight average measured at the committed epoch and selected is what model.keras holds
    (checkpoints / "model-average-0002.keras").write_text("average")
    (checkpoints / "model-epoch-0002.keras").write_text("epoch 2 again")
    averaged = {**state, "average": {"path": "checkpoints/average-epoch-0002.npz", "last": 2, "selected": True,
                                     "measured_at": 2}}
    recover_interrupted_run(run, averaged, steps_per_epoch=1)
    assert (run / "model.keras").read_text() == "average" and not list(checkpoints.glob("model-*"))


def test_trim_tensorboard_drops_the_epochs_after_the_commit_and_a_cut_record(tmp_path):
    import tensorflow as tf

    from fer_core.training.loop import trim_tensorboard

    writer = tf.summary.create_file_writer(str(tmp_path / "validation"))
    with writer.as_default():
        tf.summary.text("keras", "the model", step=0)
        for epoch in range(4):  # as Keras logs them: 10 training steps per epoch
            tf.summary.scalar("evaluation_loss_vs_iterations", 1.0, step=10 * (epoch + 1))
            tf.summary.scalar("epoch_loss", 1.0, step=epoch)
    writer.close()
    (path,) = (tmp_path / "validation").glob("*tfevents*")
    path.write_bytes(path.read_bytes() + b"\x40\x00\x00\x00\x00\x00\x00\x00cut")  # a record cut short by a kill
    assert trim_tensorboard(tmp_path, epochs=2, steps_per_epoch=10) == [path]
    assert _logged_steps(tmp_path / "validation", "epoch_loss") == [0, 1]
    assert _logged_steps(tmp_path / "validation", "evaluation_loss_vs_iterations") == [10, 20]
    assert _logged_steps(tmp_path / "validation", "keras") == [0]
    assert trim_tensorboard(tmp_path, epochs=2, steps_per_epoch=10) == [], "nothing more to drop"


def test_a_second_writer_of_a_run_folder_is_refused_until_the_first_one_dies(tmp_path):
    from fer_core.training.loop import RUN_LOCK, run_lock

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"model": "emotion_cnn", "data": "fer2013-sample", "epochs": 4}))
    holder = subprocess.Popen(  # a training run, as far as the lock goes
        [sys.executable, "-c", "import sys, time\nfrom fer_core.training.loop import run_lock\n"
         "with run_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(120)\n", str(run)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunError, match=f"being written by process {holder.pid}"):
            train_run(TrainConfig(model="emotion_cnn", data="fer2013-sample", epochs=4), run, resume=True, verbose=0)
        with pytest.raises(RunError, match="being written by"):
            with run_lock(run):
                pass
    finally:
        holder.kill()
        holder.wait()
    with run_lock(run):  # released by the kernel when its holder was killed
        with pytest.raises(RunError, match=f"being written by process {os.getpid()}"):
            with run_lock(run):  # a second hold in the same process is refused too
                pass
    assert (run / RUN_LOCK).is_file()
