"""The training loop: a zoo model, a dataset, tf.data with augmentation, Keras callbacks, and the
training half of a run record (``fer_core.runs.recording`` adds the test figures).

Run record (every file written atomically):
    config.json          everything needed to reproduce the run
    state.json           last finished epoch, its checkpoint, early-stopping state
    history.csv          one row per finished epoch: loss, metrics, lr, seconds
    checkpoints/         the model after the last finished epoch (optimizer included), and with
                         ``swa_start`` the running mean of the weights of the epochs since then
    model.keras          the best model on the validation split (weights only once finished)
    model_info.json      task, label names, input size, dataset of model.keras
    metrics.json         test-split metrics of model.keras (+ confusion matrix)   } written by
    predictions.csv      test-split predictions (no labels or annotations)       } runs.recording
    summary.txt          the model summary
    model_card.md        written by ``python -m fer_core card``; removed when metrics.json is rewritten
    tensorboard/         TensorBoard logs

A run killed at any point resumes with ``resume=True`` from its last finished
epoch: state.json is the commit point, written after that epoch's checkpoint. Nothing the
commit point does not describe replaces model.keras before it: a better model waits in
checkpoints/ (``model-epoch-NNNN.keras``) until state.json names its epoch, and a resume
promotes or deletes what a kill left there, deletes unfinished temporary files, and drops the
TensorBoard events of the epochs after the last finished one.

One process at a time writes a run folder: it holds ``checkpoints/run.lock`` (``fcntl.flock``,
released when the process ends, however it ends) from the start of training to its test figures.
"""

import contextlib
import dataclasses
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fer_core.config import KEYPOINTS
from fer_core.data import load_dataset
from fer_core.errors import ModelError, RunError, file_problem
from fer_core.storage import (LockHeldError, exclusive_lock, read_json, save_model_atomic, write_bytes_atomic,
                              write_csv_atomic, write_json_atomic, write_text_atomic)


# The classifiers' output layer (fer_core.training.zoo): the one layer ``--init-from`` may leave fresh.
HEAD_LAYER = "probabilities"

# The lock a process training a run holds on its folder.
RUN_LOCK = Path("checkpoints") / "run.lock"
# What the run's writers leave behind when killed mid-write (storage: ".NAME.RANDOM.tmp", ".STEM.tmp.keras").
TEMPORARY_FILE = re.compile(r"^\..+\.tmp(\.keras)?$")
# Checkpoint files, by the epoch they hold (one is committed in state.json at a time).
CHECKPOINT_FILE = re.compile(r"^(epoch-\d{4}\.keras|average-epoch-\d{4}\.npz)$")


@dataclass
class TrainConfig:
    """Everything a training run depends on (saved as config.json)."""

    model: str
    data: str
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    optimizer: str = "adam"            # adam | sgd (momentum 0.9, nesterov)
    weight_decay: float = 0.0          # decoupled (AdamW / SGD weight decay)
    schedule: str = "cosine"           # cosine (with warmup) | constant
    warmup_epochs: int = 1
    label_smoothing: float = 0.0
    class_weights: bool = False
    soft_labels: bool = False          # FER+: train on vote distributions
    augment: bool = True
    flip: bool = True
    rotation: float = 10.0
    shift: float = 0.1
    zoom: float = 0.1
    erase: float = 0.0                 # random-erasing probability per image
    stretch: float = 0.0               # maximum aspect-ratio change (log-ratio); 0 = off
    camera: float = 0.0                # probability per image of imitating another camera (augment.imitate_cameras)
    mixup: float = 0.0                 # mixup Beta alpha (classifiers; 0 = off)
    patience: int = 10                 # early stopping on the validation split; 0 = off
    input_size: int = 0                # 0 = the model's default
    fold: int = 0
    folds: int = 10
    limit: int = 0                     # use at most this many samples per split (0 = all)
    seed: int = 0
    strategy: str = "default"          # default | mirrored | multi-worker (TF_CONFIG)
    init_from: str = ""                # start from this .keras model's weights (a warm restart)
    teachers: list = field(default_factory=list)  # distil from these .keras classifiers (averaged)
    distill: float = 0.5               # weight of the teachers' outputs in the training targets
    swa_start: int = 0                 # average the weights of every epoch from this one on (SWA); 0 = off
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def _limited(dataset, limit, seed):
    if not limit or len(dataset) <= limit:
        return dataset
    pick = np.sort(np.random.default_rng(seed).choice(len(dataset), limit, replace=False))
    return dataset.select(pick)


def prepare_splits(config):
    """Loads the dataset and returns (train, val, test) Datasets with usable labels.

    Raises:
        RunError: the dataset has no train, val or test split, or one of them has no labelled sample.
    """
    dataset = load_dataset(config.data, fold=config.fold, folds=config.folds)
    parts = []
    for role in ("train", "val", "test"):
        if role not in dataset.role_splits:
            raise RunError(f"dataset {config.data} has no {role} split")
        part = dataset.subset(role).labelled()
        if not len(part):
            raise RunError(f"dataset {config.data}: its {role} split ({dataset.role_splits[role]}) is empty "
                           "(no labelled sample)")
        parts.append(_limited(part, config.limit, config.seed))
    return parts


def _targets(dataset, config, side, teacher=None):
    if dataset.task == KEYPOINTS:
        scale = side / dataset.image_size[0]
        return (dataset.keypoints * scale).reshape(len(dataset), -1).astype(np.float32)
    if config.soft_labels and dataset.soft_labels is not None:
        labels = dataset.soft_labels.astype(np.float32)
    else:
        labels = np.eye(len(dataset.label_names), dtype=np.float32)[dataset.labels]
    if teacher is None:
        return labels
    return ((1.0 - config.distill) * labels + config.distill * teacher).astype(np.float32)


def teacher_outputs(paths, dataset):
    """The teachers' class probabilities for every image of a dataset (knowledge distillation).

    Each teacher sees the images and their mirror images (flip TTA); the teachers are averaged,
    so several snapshots of one run make a snapshot-ensemble teacher.

    Arguments:
        paths: .keras classifiers with one output per class of the dataset.
        dataset: a classification Dataset.

    Returns:
        float32 (N, C) probabilities.

    Raises:
        RunError: a teacher is missing, unreadable, or does not output the dataset's classes.
    """
    from fer_core.inference.batch import predict_dataset
    from fer_core.inference.runtime import load_keras_model

    outputs = []
    for path in paths:
        try:
            teacher = load_keras_model(path)
        except ModelError as error:
            raise RunError(f"--teacher {error}") from None
        if teacher.output_shape[-1] != len(dataset.label_names):
            raise RunError(f"--teacher {path}: it outputs {teacher.output_shape[-1]} values, "
                           f"the dataset has {len(dataset.label_names)} classes")
        outputs.append(predict_dataset(teacher, dataset, flip_tta=True))
    return np.mean(outputs, axis=0).astype(np.float32)


def cached_teacher_outputs(cache_path, paths, dataset):
    """``teacher_outputs`` kept in a file, so that a resumed run does not run its teachers again.

    The file is reused while the teachers (path, size, modification time) and the number of
    images are those it was made from; otherwise the outputs are computed and the file rewritten.

    Arguments:
        cache_path: an .npz file (in the run's git-ignored checkpoints folder).
        paths, dataset: as for ``teacher_outputs``.

    Returns:
        float32 (N, C) probabilities.
    """
    import io
    import json

    stats = [(str(p), Path(p).stat()) for p in paths]
    key = json.dumps([[p, stat.st_size, stat.st_mtime_ns] for p, stat in stats] + [len(dataset)])
    cache_path = Path(cache_path)
    if cache_path.is_file():
        with np.load(cache_path) as cached:
            if str(cached["key"]) == key:
                return cached["outputs"]
    outputs = teacher_outputs(paths, dataset)
    buffer = io.BytesIO()
    np.savez(buffer, key=np.array(key), outputs=outputs)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(cache_path, buffer.getvalue())
    return outputs


def make_tf_dataset(dataset, config, side, training, teacher=None):
    """tf.data pipeline: resized float images (N, S, S, 1) and targets, batched, augmented in training.

    Arguments:
        teacher: (N, C) teacher probabilities blended into the targets with weight ``config.distill``.
    """
    import tensorflow as tf

    from fer_core.data.augment import Augmentation, augment_batch, mix_batch
    from fer_core.inference.batch import fit_images

    images = fit_images(dataset.images, side)
    targets = _targets(dataset, config, side, teacher)
    data = tf.data.Dataset.from_tensor_slices((images, targets))
    # Several workers (--strategy multi-worker) each take a share of every training batch; each scores
    # the whole validation split, so that the model is selected on all of it.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (tf.data.experimental.AutoShardPolicy.DATA if training
                                                         else tf.data.experimental.AutoShardPolicy.OFF)
    data = data.with_options(options)
    if training:
        data = data.shuffle(len(images), seed=config.seed, reshuffle_each_iteration=True)
    data = data.batch(config.batch_size)
    if training and config.augment:
        aug = Augmentation(config.flip, config.rotation, config.shift, config.zoom, config.erase, config.stretch,
                           config.camera)
        keypoints = dataset.task == KEYPOINTS
        data = data.map(lambda x, y: augment_batch(x, y, aug, keypoints), num_parallel_calls=tf.data.AUTOTUNE)
    if training and config.mixup > 0:
        data = data.map(lambda x, y: mix_batch(x, y, config.mixup), num_parallel_calls=tf.data.AUTOTUNE)
    return data.prefetch(tf.data.AUTOTUNE)


STRATEGIES = ("default", "mirrored", "multi-worker")


def _strategy(name):
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":  # the cluster and this process's place in it come from TF_CONFIG
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise RunError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def _build_for_multi_worker(model, strategy, train_data):
    """Works around Keras 3's two failures under MultiWorkerMirroredStrategy (keras-team/keras#20585).

    1. ``fit`` builds the metrics, loss and optimizer from the first batch averaged across workers
       (``_maybe_symbolic_build``), which fails on a distributed batch: they are built here from one
       plain batch, and that step is skipped.
    2. Each step's logs are averaged across workers along an axis that scalars do not have: they
       are each worker's own instead (gradients are still all-reduced by the optimizer; training
       metrics are the worker's share of the batches, and every worker scores the whole
       validation split, so the model is selected on all of it).
    """
    from keras.src.backend.tensorflow import trainer as keras_tf_trainer

    x, y = next(iter(train_data))
    with strategy.scope():
        model._symbolic_build(data_batch=(x, y, None))
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    keras_tf_trainer._collective_all_reduce_multi_worker = lambda strategy: False


def multi_worker_role(environ=None):
    """This process's place in a multi-worker run, from ``TF_CONFIG`` (TensorFlow's cluster description).

    Arguments:
        environ: the environment to read (default ``os.environ``).

    Returns:
        (task type, task index, chief): the chief is the "chief" task, or worker 0 when the cluster
        has no chief; it alone writes the run record.

    Raises:
        RunError: TF_CONFIG is missing, not JSON, or does not name this task in its cluster.
    """
    import json
    import os

    text = (os.environ if environ is None else environ).get("TF_CONFIG")
    if not text:
        raise RunError("--strategy multi-worker needs TF_CONFIG (the cluster and this worker's task; see the README)")
    try:
        spec = json.loads(text)
        cluster, task = spec["cluster"], spec["task"]
        task_type, index = str(task["type"]), int(task["index"])
        cluster[task_type][index]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise RunError(f"TF_CONFIG does not describe a cluster and this task in it ({type(error).__name__})") from None
    chief = task_type == "chief" or (task_type == "worker" and index == 0 and "chief" not in cluster)
    return task_type, index, chief


def _compile(model, config, task, steps_per_epoch):
    import keras

    from fer_core.training.losses import MaskedRMSE, masked_mse

    total = max(1, config.epochs * steps_per_epoch)
    if config.schedule == "cosine":
        warmup = min(config.warmup_epochs * steps_per_epoch, total // 2)
        lr = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=config.learning_rate * 0.1 if warmup else config.learning_rate,
            decay_steps=total - warmup, alpha=0.01,
            warmup_target=config.learning_rate if warmup else None, warmup_steps=warmup)
    elif config.schedule == "constant":
        lr = config.learning_rate
    else:
        raise RunError(f"unknown schedule {config.schedule!r}; choose cosine or constant")
    if config.optimizer == "adam":
        optimizer = keras.optimizers.AdamW(lr, weight_decay=config.weight_decay) if config.weight_decay \
            else keras.optimizers.Adam(lr)
    elif config.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(lr, momentum=0.9, nesterov=True,
                                         weight_decay=config.weight_decay or None)
    else:
        raise RunError(f"unknown optimizer {config.optimizer!r}; choose adam or sgd")
    if task == KEYPOINTS:
        model.compile(optimizer=optimizer, loss=masked_mse, metrics=[MaskedRMSE()])
    else:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])


def monitored_metric(task):
    """The validation metric that selects a run's model, and whether lower ("min") or higher ("max") is better."""
    return ("val_rmse", "min") if task == KEYPOINTS else ("val_accuracy", "max")


def _class_weights(dataset):
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(dataset.labels)
    weights = compute_class_weight("balanced", classes=present, y=dataset.labels)
    return {int(c): float(w) for c, w in zip(present, weights)}


def _make_recorder(run_dir, monitor, mode, state, swa_start=0):
    """Keras callback that commits each finished epoch to the run record.

    With ``swa_start``, each epoch from that one on also adds the model's weights to a running
    mean (stochastic weight averaging), saved beside the checkpoint and committed with it.
    """
    import keras

    class RunRecorder(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.time()

        def on_epoch_end(self, epoch, logs=None):
            logs = dict(logs or {})
            row = {"epoch": epoch + 1}
            row.update({k: float(v) for k, v in logs.items()})
            row["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            row["seconds"] = round(time.time() - self.started, 3)
            value = logs.get(monitor)
            improved = value is not None and _is_better(value, state["best"], mode)
            if improved:  # model.keras is replaced once state.json names this epoch, not before
                state["best"], state["best_epoch"], state["wait"] = float(value), epoch + 1, 0
                save_model_atomic(self.model, run_dir / pending_model("epoch", epoch + 1))
            else:
                state["wait"] += 1
            checkpoint = run_dir / "checkpoints" / f"epoch-{epoch + 1:04d}.keras"
            save_model_atomic(self.model, checkpoint)
            previous = [state.get("checkpoint"), (state.get("average") or {}).get("path")]
            if swa_start and epoch + 1 >= swa_start:
                state["average"] = _add_to_average(run_dir, state.get("average"), self.model.get_weights(),
                                                   epoch + 1)
            state.update(epoch=epoch + 1, checkpoint=str(checkpoint.relative_to(run_dir)),
                         history=state["history"] + [row])
            write_json_atomic(run_dir / "state.json", state)  # the commit point
            if improved:
                promote_model(run_dir, pending_model("epoch", epoch + 1))
            for path in previous:
                if path and path not in (state["checkpoint"], (state.get("average") or {}).get("path")):
                    (run_dir / path).unlink(missing_ok=True)
            write_history(run_dir, state["history"])

    return RunRecorder()


def _is_better(value, best, mode):
    """Whether a validation score beats the best so far (None: nothing yet); ``mode`` "min" or "max"."""
    return best is None or (value < best if mode == "min" else value > best)


def _read_weights(path):
    """A weight list saved by ``_add_to_average`` (arrays w0, w1, ... of an .npz file)."""
    with np.load(path) as saved:
        return [saved[f"w{i}"] for i in range(len(saved.files))]


def _add_to_average(run_dir, average, weights, epoch):
    """Adds one epoch's weights to the run's running mean of weights (SWA).

    Arguments:
        run_dir: the run record folder.
        average: the state's description of the mean so far ({"path", "first", "last", "count"}),
            or None before the first averaged epoch.
        weights: the model's weights after ``epoch``.
        epoch: the finished epoch (1-based).

    Returns:
        the description of the new mean, saved as checkpoints/average-epoch-NNNN.npz.
    """
    import io

    from fer_core.training.averaging import running_average

    previous, count = (_read_weights(run_dir / average["path"]), average["count"]) if average else (None, 0)
    mean = running_average(previous, weights, count)
    path = Path("checkpoints") / f"average-epoch-{epoch:04d}.npz"
    buffer = io.BytesIO()
    np.savez(buffer, **{f"w{i}": w for i, w in enumerate(mean)})
    write_bytes_atomic(run_dir / path, buffer.getvalue())
    return {"path": str(path), "first": (average or {}).get("first", epoch), "last": epoch, "count": count + 1}


def select_weight_average(run_dir, state, model, train_set, val_data, side, monitor, mode):
    """Measures the run's averaged weights on the validation split and keeps them if they beat the best epoch.

    The averaged model gets batch-normalisation statistics measured on the (unaugmented) training
    images. Its validation score goes into state.json; when it is better than the best epoch's,
    it becomes the run's model.keras.

    Arguments:
        run_dir, state: the run record folder and its state.
        model: the compiled model of the run (its weights are replaced).
        train_set: the training Dataset; val_data: the validation tf.data pipeline.
        side: input side; monitor, mode: the validation metric and whether lower is better.

    Returns:
        the averaged model's validation score, or None when the run has no averaged weights.
    """
    from fer_core.training.averaging import recompute_batch_norm
    from fer_core.inference.batch import fit_images

    average = state.get("average")
    if not average:
        return None
    if average.get("val") is not None and average.get("measured_at") == state["epoch"]:
        return average["val"]  # already measured (a resumed, finished run)
    model.set_weights(_read_weights(run_dir / average["path"]))
    recompute_batch_norm(model, fit_images(train_set.images, side))
    scores = model.evaluate(val_data, verbose=0, return_dict=True)
    value = float(scores[monitor.removeprefix("val_")])
    better = _is_better(value, state["best"], mode)
    average.update(val=value, measured_at=state["epoch"], selected=bool(better))
    if better:
        save_model_atomic(model, run_dir / pending_model("average", average["last"]))
    write_json_atomic(run_dir / "state.json", state)
    if better:
        promote_model(run_dir, pending_model("average", average["last"]))
    return value


def pending_model(kind, epoch):
    """Where a model waits, relative to the run folder, until state.json commits it as model.keras.

    Arguments:
        kind: "epoch" (the best epoch so far) or "average" (the weight average up to ``epoch``).
        epoch: the epoch it comes from (1-based).
    """
    return Path("checkpoints") / f"model-{kind}-{epoch:04d}.keras"


def committed_model(state):
    """The pending model file (see ``pending_model``) that state.json says model.keras holds, or None."""
    state = state or {}
    average = state.get("average") or {}
    if average.get("selected") and average.get("measured_at") == state.get("epoch"):
        return pending_model("average", average["last"])
    if state.get("best_epoch"):
        return pending_model("epoch", state["best_epoch"])
    return None


def promote_model(run_dir, pending):
    """Makes a committed pending model the run's model.keras (one rename)."""
    os.replace(Path(run_dir) / pending, Path(run_dir) / "model.keras")


def recover_interrupted_run(run_dir, state, steps_per_epoch):
    """Puts a run folder back to its commit point (state.json) after a kill, before training goes on.

    A pending model that state.json commits becomes model.keras (the kill came between the commit
    and the rename); the others are deleted, as are checkpoints that state.json does not name,
    half-written temporary files, and the TensorBoard events of epochs after the last finished one.

    Arguments:
        run_dir: the run record folder (its lock held).
        state: its state.json (None: no epoch finished).
        steps_per_epoch: training batches per epoch (places the per-iteration TensorBoard events).

    Returns:
        list of the file names deleted, promoted or rewritten (relative to ``run_dir``).
    """
    run_dir, state = Path(run_dir), state or {}
    changed = []
    wanted = committed_model(state)
    keep = {state.get("checkpoint"), (state.get("average") or {}).get("path")}
    log_dir = run_dir / "tensorboard"
    folders = [run_dir, run_dir / "checkpoints"] + (sorted(p for p in log_dir.rglob("*") if p.is_dir())
                                                     if log_dir.is_dir() else [])
    for folder in folders:
        for path in sorted(folder.glob("*")) if folder.is_dir() else []:
            name = path.relative_to(run_dir)
            if folder.name == "checkpoints" and re.fullmatch(r"model-(epoch|average)-\d{4}\.keras", path.name):
                if name == wanted:
                    promote_model(run_dir, name)
                else:
                    path.unlink()
            elif TEMPORARY_FILE.match(path.name) and path.is_file():
                path.unlink()
            elif folder.name == "checkpoints" and CHECKPOINT_FILE.match(path.name) and str(name) not in keep:
                path.unlink()
            else:
                continue
            changed.append(str(name))
    if log_dir.is_dir():
        changed += [str(p.relative_to(run_dir)) for p in
                    trim_tensorboard(log_dir, int(state.get("epoch") or 0), steps_per_epoch)]
    return changed


def trim_tensorboard(log_dir, epochs, steps_per_epoch):
    """Drops the TensorBoard events of epochs after the first ``epochs`` (those a killed run logged but
    never committed), so that a resumed run does not log an epoch twice.

    Keras logs ``epoch_*`` scalars at the 0-based epoch and ``evaluation_*_vs_iterations`` at the
    training step; other events (the model's graph and summary) are kept. Event files are rewritten
    through a temporary file and a rename; a record cut short by the kill is dropped with them.

    Arguments:
        log_dir: the run's tensorboard/ folder.
        epochs: epochs committed.
        steps_per_epoch: training batches per epoch.

    Returns:
        the event files rewritten.
    """
    import tensorflow as tf

    def beyond(event):
        for value in event.summary.value:
            if value.tag.startswith("epoch_") and event.step >= epochs:
                return True
            if value.tag.startswith("evaluation_") and value.tag.endswith("_vs_iterations") \
                    and event.step > epochs * steps_per_epoch:
                return True
        return False

    rewritten = []
    for path in sorted(Path(log_dir).rglob("*tfevents*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        kept, dropped = [], False
        try:
            for event in tf.compat.v1.train.summary_iterator(str(path)):
                if beyond(event):
                    dropped = True
                else:
                    kept.append(event.SerializeToString())
        except tf.errors.DataLossError:  # a last record cut short
            dropped = True
        if not dropped:
            continue
        tmp = path.with_name(".trimmed.tmp")  # no "tfevents" in its name: TensorBoard does not read it
        with tf.io.TFRecordWriter(str(tmp)) as writer:
            for record in kept:
                writer.write(record)
        os.replace(tmp, path)
        rewritten.append(path)
    return rewritten


@contextlib.contextmanager
def run_lock(run_dir):
    """Holds a run folder's lock (``RUN_LOCK``) for the ``with`` block: one writer per run.

    Raises:
        RunError: another process is writing the run (training, resuming or evaluating it).
    """
    run_dir = Path(run_dir)
    (run_dir / RUN_LOCK).parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(exclusive_lock(run_dir / RUN_LOCK))
        except LockHeldError as busy:
            who = f"process {busy.holder}" if busy.holder else "another process"
            raise RunError(f"{run_dir} is being written by {who} (a training run holds {RUN_LOCK}); wait for "
                           "it to end or stop it, then --resume") from None
        yield


def write_history(run_dir, history):
    """Writes a run record's history.csv (one row per finished epoch) atomically.

    Arguments:
        run_dir: the run record folder.
        history: list of row dicts (epoch, metrics, lr, seconds); empty before the first epoch,
            which writes a header-only file, so that readers get an empty table, not a parse error.
    """
    import pandas as pd

    write_csv_atomic(run_dir / "history.csv", pd.DataFrame(history) if history else pd.DataFrame({"epoch": []}))


def train(config, run_dir, resume=False, verbose=None, finish_now=False, hold_lock=None):
    """Trains a zoo model and writes the training half of its run record (``runs.recording.train_run``
    trains and then evaluates on the test split).

    Arguments:
        config: TrainConfig.
        run_dir: the run record folder.
        resume: continue the run in ``run_dir`` from its last finished epoch
            (its saved config is used; ``config.epochs`` may extend it).
        verbose: Keras verbosity (default: a progress bar on a terminal, a line per epoch otherwise).
        finish_now: with ``resume``, train no further (the best model so far is then evaluated;
            a later resume trains on).
        hold_lock: a ``contextlib.ExitStack`` that keeps the run folder's lock (``run_lock``) once
            ``train`` returns, until it is closed (``train_run`` evaluates the model under it);
            default: the lock is released on return.

    The lock is taken before anything is written: for a new run once the request and the dataset
    are checked (a wrong one leaves no folder behind), to resume one at once.

    Returns:
        the test split (a ``Dataset``) that the run's model is to be evaluated on.

    Raises:
        RunError: a wrong request (nothing to resume, a run already there, a bad option, a dataset
            that does not fit), or another process is writing the run folder.
    """
    run_dir = Path(run_dir)
    config = requested_config(config, run_dir, resume, finish_now)
    if config.strategy == "multi-worker" and not multi_worker_role()[2]:
        return _train_as_worker(config, run_dir, resume, verbose, finish_now)
    with contextlib.ExitStack() as own_lock:
        return _train(config, run_dir, resume, verbose, finish_now, own_lock if hold_lock is None else hold_lock)


def _train_as_worker(config, run_dir, resume, verbose, finish_now):
    """A multi-worker run's non-chief task: it trains in step with the chief in a scratch folder of its
    own (collective ops need every worker to run every step, and to save when the chief saves), and
    the chief alone writes the run record. To resume, it starts from the chief's last committed
    checkpoint, read from the run folder (which the workers must share).

    Returns:
        None: a worker has no test split to evaluate.
    """
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="fer-worker-") as scratch, contextlib.ExitStack() as lock:
        scratch = Path(scratch)
        state = read_json(run_dir / "state.json") if resume else None
        if state and state.get("checkpoint"):
            for name in ("config.json", "state.json", state["checkpoint"]):
                (scratch / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(run_dir / name, scratch / name)
        _train(config, scratch, bool(state), 0 if verbose is None else verbose, finish_now, lock)
    return None


def requested_config(config, run_dir, resume=False, finish_now=False):
    """The config a ``train`` call will run, checked before anything is written.

    Arguments:
        config, run_dir, resume, finish_now: as for ``train``.

    Returns:
        ``config``, or with ``resume`` the run's saved config (its epochs extended to ``config.epochs``).

    Raises:
        RunError: nothing to resume, a run there already (without ``resume``), --finish-now without
            --resume, a model file (--init-from, --teacher) that is not there, a negative --mixup or a
            --distill outside 0-1.
    """
    run_dir = Path(run_dir)
    if resume:
        saved = read_json(run_dir / "config.json")
        if saved is None:
            raise RunError(f"{run_dir}: nothing to resume (no config.json); start it without --resume")
        epochs = config.epochs if config.epochs and config.epochs > saved.get("epochs", 0) else saved["epochs"]
        config = TrainConfig.from_dict({**saved, "epochs": epochs})
    elif finish_now:
        raise RunError("--finish-now needs --resume (it finishes an existing run)")
    else:
        _check_no_run_there(run_dir)
    models_used = [("--init-from", config.init_from)] if config.init_from else []
    models_used += [("--teacher", path) for path in config.teachers]
    for flag, path in models_used:
        problem = file_problem(path)
        if problem:
            raise RunError(f"{flag} {path}: {'no such model file' if problem == 'no such file' else problem}")
    if config.mixup < 0:
        raise RunError(f"--mixup {config.mixup}: the Beta parameter must be positive (or 0 for off)")
    if not 0.0 <= config.distill <= 1.0:
        raise RunError(f"--distill {config.distill}: the teachers' weight must be between 0 and 1")
    return config


def _check_no_run_there(run_dir):
    if (run_dir / "state.json").exists() or (run_dir / "metrics.json").exists():
        raise RunError(f"{run_dir} already holds a run; use --resume or another --run-dir")


def _train(config, run_dir, resume, verbose, finish_now, hold_lock):
    """``train`` once ``config`` is the one to run; the run folder's lock goes into ``hold_lock``."""
    import sys

    if resume:  # the folder is there: a second writer is refused before any work
        hold_lock.enter_context(run_lock(run_dir))
    import keras  # after the checks above: a wrong command line fails fast

    from fer_core.training.zoo import build_model, default_input_size, model_task

    task = model_task(config.model)
    if (config.mixup or config.teachers) and task == KEYPOINTS:
        raise RunError("--mixup and --teacher blend class targets; they do not apply to keypoint regression")
    side = config.input_size or default_input_size(config.model)
    train_set, val_set, test_set = prepare_splits(config)
    if (train_set.task == KEYPOINTS) != (task == KEYPOINTS):
        raise RunError(f"model {config.model} is for {task} but dataset {config.data} is for {train_set.task}")
    if not resume:  # the lock's folder is made once the request has proved sound
        run_dir.mkdir(parents=True, exist_ok=True)
        hold_lock.enter_context(run_lock(run_dir))
        _check_no_run_there(run_dir)  # again: another process may have started it meanwhile
    state = read_json(run_dir / "state.json")
    write_json_atomic(run_dir / "config.json", dataclasses.asdict(config))
    keras.utils.set_random_seed(config.seed)
    strategy = _strategy(config.strategy)
    teacher = (cached_teacher_outputs(run_dir / "checkpoints" / "teacher_outputs.npz", config.teachers, train_set)
               if config.teachers else None)
    train_data = make_tf_dataset(train_set, config, side, training=True, teacher=teacher)
    val_data = make_tf_dataset(val_set, config, side, training=False)
    steps = int(np.ceil(len(train_set) / config.batch_size))
    recover_interrupted_run(run_dir, state, steps)  # what a kill left beyond the commit point
    with strategy.scope():
        if resume and state is not None and state.get("checkpoint"):
            from fer_core.training import losses  # noqa: F401  registers the keypoint loss for loading

            model = keras.models.load_model(run_dir / state["checkpoint"], safe_mode=True)
        else:
            state = {"epoch": 0, "checkpoint": None, "history": [], "best": None, "best_epoch": None, "wait": 0}
            num_classes = len(train_set.label_names) if task != KEYPOINTS else 30
            model = build_model(config.model, (side, side, 1), num_classes)
            if config.init_from:
                load_initial_weights(model, config.init_from)
            _compile(model, config, task, steps)
    write_history(run_dir, state["history"])  # derived from state.json, which may be one epoch ahead
    write_model_description(run_dir, config, model, task, side, train_set.label_names)
    monitor, mode = monitored_metric(task)
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard")),
        _make_recorder(run_dir, monitor, mode, state, config.swa_start),
    ]
    if config.patience:
        callbacks.append(_early_stopping(run_dir, state, monitor=monitor, mode=mode, patience=config.patience))
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    if config.strategy == "multi-worker":
        _build_for_multi_worker(model, strategy, train_data)
    if state["epoch"] < config.epochs and not state.get("stopped_early") and not finish_now:
        model.fit(train_data, validation_data=val_data, epochs=config.epochs, initial_epoch=state["epoch"],
                  callbacks=callbacks, verbose=verbose, shuffle=False,  # tf.data shuffles (make_tf_dataset)
                  class_weight=_class_weights(train_set) if config.class_weights and task != KEYPOINTS else None)
    if config.swa_start:
        select_weight_average(run_dir, state, model, train_set, val_data, side, monitor, mode)
    return test_set


def load_initial_weights(model, path):
    """Copies the weights of a saved model of the same architecture into ``model``.

    A classifier with another number of classes (a FER2013 model starting a FER+ run) gives every
    weight but its output layer's (``probabilities``), which keeps its fresh initialisation.

    Arguments:
        model: a freshly built zoo model.
        path: a .keras file (a run's model.keras, a checkpoint or a shipped model).

    Returns:
        the names of the layers left as initialised (empty when every weight was copied).

    Raises:
        RunError: the file is missing or unreadable, or its architecture differs from ``model``'s.
    """
    from fer_core.inference.runtime import load_keras_model

    try:
        source = load_keras_model(path)
    except ModelError as error:
        raise RunError(f"--init-from {error}") from None
    shapes = [tuple(w.shape) for w in model.weights]
    source_shapes = [tuple(w.shape) for w in source.weights]
    if shapes == source_shapes:
        model.set_weights(source.get_weights())
        return []
    kept, new_head = _layers_with_weights(model), []
    source_layers = _layers_with_weights(source)  # matched by position: unnamed layers get numbered names
    if len(kept) != len(source_layers) or any(
            (a.name == HEAD_LAYER) != (b.name == HEAD_LAYER)
            or (a.name != HEAD_LAYER and [tuple(w.shape) for w in a.weights] != [tuple(w.shape) for w in b.weights])
            for a, b in zip(kept, source_layers)):
        raise RunError(f"--init-from {path}: its architecture differs from {model.name} "
                       f"({len(source_shapes)} weight tensors, expected {len(shapes)} of the same shapes)")
    for layer, source_layer in zip(kept, source_layers):
        if layer.name == HEAD_LAYER:
            new_head.append(layer.name)
        else:
            layer.set_weights(source_layer.get_weights())
    return new_head


def _layers_with_weights(model):
    return [layer for layer in model.layers if layer.weights]


def write_model_description(run_dir, config, model, task, side, label_names):
    """Writes a run's summary.txt (the Keras model summary) and model_info.json.

    Arguments:
        run_dir: the run record folder.
        config: its TrainConfig.
        model: the built zoo model.
        task: "classification" or "keypoints".
        side: the input side the model was built for.
        label_names: the dataset's class names (or keypoint dataset's names).
    """
    write_text_atomic(run_dir / "summary.txt", _summary_text(model))
    write_json_atomic(run_dir / "model_info.json", {
        "model": config.model, "task": task, "dataset": config.data, "input_size": side,
        "label_names": list(label_names), "fold": config.fold, "folds": config.folds,
        "params": int(model.count_params()),
    })


def _summary_text(model):
    lines = []
    model.summary(print_fn=lambda line, **_: lines.append(line))
    return "\n".join(lines) + "\n"


def _early_stopping(run_dir, state, **kwargs):
    """keras.callbacks.EarlyStopping that starts from the run's saved best/wait and records its stop."""
    import keras

    class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            if state["best"] is not None:
                self.best, self.wait = state["best"], state["wait"]

        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            if self.model.stop_training:
                state["stopped_early"] = epoch + 1
                write_json_atomic(run_dir / "state.json", state)

    return ResumableEarlyStopping(**kwargs)
