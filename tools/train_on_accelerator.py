"""Train a zoo classifier on a GPU machine that has Keras 3 and JAX but no TensorFlow.

`fer_core train` feeds Keras through tf.data, so it needs TensorFlow; a GPU machine without it
can still run the same zoo model, optimizer, schedule and augmentation through Keras 3 on the
JAX backend. This script does that in three steps:

    # 1. here: pack FER2013's Training and PublicTest images into a small folder
    python tools/train_on_accelerator.py pack --out .gpu
    # 2. on the GPU machine (Keras 3 + JAX; --minutes picks the epochs that fit)
    KERAS_BACKEND=jax python tools/train_on_accelerator.py train --data .gpu --out OUT --model resnet10 --epochs 200
    # 3. here: turn its weights and history into a run record (evaluates on PrivateTest)
    python tools/train_on_accelerator.py record --weights OUT/best.weights.h5 --history OUT/history.csv \\
        --config OUT/config.json --run-dir assets/runs/NAME

The recipe mirrors `fer_core train`: SGD with Nesterov momentum and decoupled weight decay,
a linear warmup then cosine decay to 1% of the peak (stepped once an epoch here), label
smoothing, one random affine transform per image (flip, rotation, shift, zoom; the matrices of
`fer_core.data.augment`) and random erasing. The model is selected on PublicTest, as there.
With `--average-last 0.25` the run also saves the mean of the weights of its last quarter of
epochs (stochastic weight averaging, batch-norm statistics measured again on the training
images), scored on PublicTest in config.json; `record --weights OUT/average.weights.h5 --average`
records that mean instead of the best epoch.
Packed images are the dataset's own pixels; keep the folder out of git (the data is not ours).
"""

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_core.config import EMOTION_INPUT_SIZE as SIDE, ERASE_SIDE_RANGE  # noqa: E402  (TensorFlow-free)

GRID_COLUMNS = 256           # images per row of a packed PNG


# ----------------------------------------------------------------------------- data

def pack(out):
    """Packs FER2013's Training (train) and PublicTest (val) images from FER_DATA_DIR into ``out``."""
    from fer_core.data import load_dataset

    dataset = load_dataset("fer2013")
    parts = {role: dataset.subset(role).labelled() for role in ("train", "val")}
    write_packed(out, {role: (part.images, part.labels) for role, part in parts.items()}, dataset.label_names)
    print({role: len(part) for role, part in parts.items()})


def write_packed(out, parts, label_names):
    """Writes images as lossless PNG grids plus their labels.

    Arguments:
        out: folder to write train.png, val.png and labels.npz into.
        parts: {"train": (images, labels), "val": (images, labels)}; uint8 images (N, 48, 48).
        label_names: class names, in label order.
    """
    import cv2

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    labels = {}
    for role, (images, y) in parts.items():
        cv2.imwrite(str(out / f"{role}.png"), _grid(images), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        labels[f"y_{role}"] = np.asarray(y, np.uint8)
        labels[f"n_{role}"] = np.array(len(images))
    np.savez(out / "labels.npz", label_names=np.array(label_names), **labels)


def _grid(images):
    count = len(images)
    rows = -(-count // GRID_COLUMNS)
    padded = np.zeros((rows * GRID_COLUMNS, SIDE, SIDE), np.uint8)
    padded[:count] = images
    return padded.reshape(rows, GRID_COLUMNS, SIDE, SIDE).transpose(0, 2, 1, 3).reshape(rows * SIDE, -1)


def _ungrid(grid, count):
    rows = grid.shape[0] // SIDE
    images = grid.reshape(rows, SIDE, GRID_COLUMNS, SIDE).transpose(0, 2, 1, 3).reshape(-1, SIDE, SIDE)
    return images[:count]


def load_packed(folder):
    """Returns (x_train, y_train, x_val, y_val, label_names); images float32 (N, 48, 48, 1) in 0..255."""
    import cv2

    folder = Path(folder)
    labels = np.load(folder / "labels.npz")
    parts = []
    for role in ("train", "val"):
        grid = cv2.imread(str(folder / f"{role}.png"), cv2.IMREAD_GRAYSCALE)
        parts.append(_ungrid(grid, int(labels[f"n_{role}"])).astype(np.float32)[..., None])
        parts.append(labels[f"y_{role}"].astype(np.int64))
    return (*parts, [str(n) for n in labels["label_names"]])


# ----------------------------------------------------------------------------- augmentation

def make_augmenter(rotation, shift, zoom, erase, seed):
    """A Keras layer that applies fer_core.data.augment's transform and erasing, on any backend."""
    import keras
    from keras import ops

    class FaceAugmentation(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seeds = keras.random.SeedGenerator(seed)

        def _uniform(self, batch, low, high):
            return keras.random.uniform((batch,), low, high, seed=self.seeds)

        def call(self, images, training=None):
            if not training:
                return images
            batch = ops.shape(images)[0]
            images = ops.image.affine_transform(images, self._inverse_transforms(batch),
                                                interpolation="bilinear", fill_mode="nearest")
            return self._erase(images, batch) if erase > 0 else images

        def _inverse_transforms(self, batch):
            # Forward matrix [[a, b, tx], [d, e, ty]] as in fer_core.data.augment.random_affine,
            # inverted in closed form (output pixel -> input pixel, as affine_transform wants).
            c = (SIDE - 1) / 2.0
            angle = self._uniform(batch, -rotation, rotation) * (math.pi / 180.0)
            scale = 1.0 + self._uniform(batch, -zoom, zoom)
            tx = self._uniform(batch, -shift, shift) * SIDE
            ty = self._uniform(batch, -shift, shift) * SIDE
            flip = ops.where(self._uniform(batch, 0.0, 1.0) < 0.5, -1.0, 1.0)
            cos, sin = ops.cos(angle) * scale, ops.sin(angle) * scale
            a, b, d, e = cos * flip, -sin, sin * flip, cos
            tx = c - a * c - b * c + tx
            ty = c - d * c - e * c + ty
            det = a * e - b * d
            ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
            itx, ity = -(ia * tx + ib * ty), -(id_ * tx + ie * ty)
            zeros = ops.zeros_like(a)
            return ops.stack([ia, ib, itx, id_, ie, ity, zeros, zeros], axis=1)

        def _erase(self, images, batch):
            half_h = self._uniform(batch, *ERASE_SIDE_RANGE) * SIDE / 2.0
            half_w = self._uniform(batch, *ERASE_SIDE_RANGE) * SIDE / 2.0
            centre_y = self._uniform(batch, 0.0, 1.0) * SIDE
            centre_x = self._uniform(batch, 0.0, 1.0) * SIDE
            chosen = self._uniform(batch, 0.0, 1.0) < erase
            grid = ops.arange(SIDE, dtype="float32") + 0.5
            inside = ((ops.abs(grid[None, :, None] - centre_y[:, None, None]) < half_h[:, None, None])
                      & (ops.abs(grid[None, None, :] - centre_x[:, None, None]) < half_w[:, None, None])
                      & chosen[:, None, None])
            noise = keras.random.uniform(ops.shape(images), 0.0, 255.0, seed=self.seeds)
            return ops.where(inside[..., None], noise, images)

    return FaceAugmentation(name="augmentation")


# ----------------------------------------------------------------------------- training

def learning_rate_at(epoch, epochs, peak, warmup):
    """Per-epoch learning rate: `fer_core train`'s Keras CosineDecay (linear warmup from 10% of
    peak, then cosine decay to 1% of peak), stepped once an epoch instead of once a batch."""
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak * 0.1 if warmup else peak, decay_steps=max(1, epochs - warmup), alpha=0.01,
        warmup_target=peak if warmup else None, warmup_steps=warmup)
    return float(keras.ops.convert_to_numpy(schedule(epoch)))


def first_averaged_epoch(epochs, share):
    """The first epoch (1-based) of the last ``share`` of ``epochs`` whose weights are averaged (SWA)."""
    return max(1, epochs - int(round(share * epochs)) + 1)


def train(args):
    import keras

    from fer_core.training.averaging import recompute_batch_norm, running_average
    from fer_core.training.zoo import build_model

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    x_train, y_train, x_val, y_val, names = load_packed(args.data)
    if args.limit:  # a quick check of the script
        x_train, y_train, x_val, y_val = x_train[:args.limit], y_train[:args.limit], x_val[:args.limit], y_val[:args.limit]
    targets = np.eye(len(names), dtype=np.float32)[y_train]
    if args.teacher:
        teacher = np.load(args.teacher)["outputs"].astype(np.float32)[:len(targets)]
        targets = (1.0 - args.distill) * targets + args.distill * teacher
    val_targets = np.eye(len(names), dtype=np.float32)[y_val]

    model = build_model(args.model, (SIDE, SIDE, 1), len(names))
    if args.init_from:  # a fine-tuning run: a run record's model.keras, or a GPU run's .weights.h5
        if args.init_from.endswith(".keras"):
            from fer_core.training.loop import load_initial_weights

            load_initial_weights(model, args.init_from)
        else:
            model.load_weights(args.init_from)
    inputs = keras.Input((SIDE, SIDE, 1))
    augmented = make_augmenter(args.rotation, args.shift, args.zoom, args.erase, args.seed)(inputs)
    trainer = keras.Model(inputs, model(augmented))
    trainer.compile(
        optimizer=keras.optimizers.SGD(args.lr, momentum=0.9, nesterov=True, weight_decay=args.weight_decay),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing),
        metrics=["accuracy"])
    config = {k: v for k, v in vars(args).items() if k != "func"}
    config.update(backend=keras.backend.backend(), keras=keras.__version__, params=int(model.count_params()))
    state = {"best": -1.0, "best_epoch": 0, "epochs": args.epochs, "started": time.time(), "mean": None, "count": 0}

    class Recorder(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.time()
            lr = learning_rate_at(epoch, state["epochs"], args.lr, args.warmup_epochs)
            self.model.optimizer.learning_rate.assign(lr)
            self.lr = lr

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.time() - self.started
            if args.minutes and epoch == 1:  # the first epoch includes compilation; time the second
                left = args.minutes * 60 - (time.time() - state["started"])
                state["epochs"] = config["epochs"] = max(3, 2 + int(left / seconds))
            row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()},
                   "lr": self.lr, "seconds": round(seconds, 3)}
            if row["val_accuracy"] > state["best"]:
                state["best"], state["best_epoch"] = row["val_accuracy"], epoch + 1
                model.save_weights(out / "best.weights.h5")
            if args.average_last and epoch + 1 >= first_averaged_epoch(state["epochs"], args.average_last):
                state["mean"] = running_average(state["mean"], model.get_weights(), state["count"])
                state["count"] += 1
            with open(out / "history.csv", "a", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(row))
                if epoch == 0:
                    writer.writeheader()
                writer.writerow(row)
            config.update(best_epoch=state["best_epoch"], best_val_accuracy=state["best"], epochs_run=epoch + 1)
            (out / "config.json").write_text(json.dumps(config, indent=2))
            print(f"epoch {epoch + 1}/{state['epochs']} {seconds:.1f}s loss {row['loss']:.4f} "
                  f"acc {row['accuracy']:.4f} val {row['val_accuracy']:.4f} best {state['best']:.4f}", flush=True)
            if epoch + 1 >= state["epochs"]:
                self.model.stop_training = True

    (out / "history.csv").unlink(missing_ok=True)
    epochs = args.epochs if not args.minutes else 100_000
    trainer.fit(x_train, targets, batch_size=args.batch_size, epochs=epochs, shuffle=True,
                validation_data=(x_val, val_targets), callbacks=[Recorder()], verbose=0)
    model.save_weights(out / "last.weights.h5")
    if state["count"]:  # stochastic weight averaging: the mean, with batch-norm statistics measured again
        model.set_weights(state["mean"])
        recompute_batch_norm(model, x_train.astype(np.float32))
        predicted = np.concatenate([np.asarray(model.predict_on_batch(x_val[i:i + 512].astype(np.float32)))
                                    for i in range(0, len(x_val), 512)]).argmax(axis=1)
        model.save_weights(out / "average.weights.h5")
        last = int(config["epochs_run"])
        config["average"] = {"first": last - state["count"] + 1, "last": last, "count": state["count"],
                             "val": float((predicted == y_val).mean())}
        (out / "config.json").write_text(json.dumps(config, indent=2))
        print(f"mean of epochs {config['average']['first']}-{last}: val {config['average']['val']:.4f}", flush=True)


# ----------------------------------------------------------------------------- run record

TRAIN_FLAGS = ("model", "epochs", "batch_size", "lr", "weight_decay", "warmup_epochs", "label_smoothing",
               "rotation", "shift", "zoom", "erase", "seed")


def recorded_command(gpu, run_dir, average=False):
    """The three steps that repeat a GPU run and record it in ``run_dir`` (train runs on the GPU machine)."""
    weights = "OUT/average.weights.h5 --average" if average else "OUT/best.weights.h5"
    return (f"python tools/train_on_accelerator.py pack --out .gpu && {gpu_train_command(gpu)} && "
            f"python tools/train_on_accelerator.py record --weights {weights} "
            f"--history OUT/history.csv --config OUT/config.json --run-dir {run_dir}")


def gpu_train_command(gpu):
    """The `train` command line that repeats a GPU run, from its config.json (epochs as resolved)."""
    parts = ["KERAS_BACKEND=jax python tools/train_on_accelerator.py train --data .gpu --out OUT"]
    parts += [f"--{name.replace('_', '-')} {gpu[name]}" for name in TRAIN_FLAGS]
    if gpu.get("teacher"):
        parts += [f"--teacher {gpu['teacher']}", f"--distill {gpu['distill']}"]
    if gpu.get("init_from"):
        parts.append(f"--init-from {gpu['init_from']}")
    if gpu.get("average_last"):
        parts.append(f"--average-last {gpu['average_last']}")
    return " ".join(parts)


def record(args):
    """Builds a fer_core run record from the GPU run's weights, history and config; evaluates it."""
    import dataclasses

    import pandas as pd

    from fer_core.training.zoo import build_model
    from fer_core.storage import save_model_atomic, write_json_atomic
    from fer_core.runs.recording import finish_run
    from fer_core.training.loop import TrainConfig, prepare_splits, write_history, write_model_description

    gpu = json.loads(Path(args.config).read_text())
    start = gpu.get("init_from") or ""
    history = pd.read_csv(args.history)
    run_dir = Path(args.run_dir)
    config = TrainConfig(
        model=gpu["model"], data="fer2013", epochs=int(gpu["epochs_run"]), batch_size=gpu["batch_size"],
        learning_rate=gpu["lr"], optimizer="sgd", weight_decay=gpu["weight_decay"], schedule="cosine",
        warmup_epochs=gpu["warmup_epochs"], label_smoothing=gpu["label_smoothing"], augment=True, flip=True,
        rotation=gpu["rotation"], shift=gpu["shift"], zoom=gpu["zoom"], erase=gpu["erase"], patience=0,
        seed=gpu["seed"], distill=gpu["distill"] if gpu.get("teacher") else 0.5,
        init_from=start if start.endswith(".keras") else "",  # a run record that the card follows
        extra={"trained_with": "tools/train_on_accelerator.py", "backend": gpu["backend"],
               "keras": gpu["keras"], "teacher_outputs": gpu.get("teacher") or "",
               "device": args.device, "schedule_step": "epoch",
               "train_command": recorded_command(gpu, run_dir, args.average)})
    if args.average and not gpu.get("average"):
        raise SystemExit(f"{args.config}: the run averaged no weights (train it with --average-last)")
    run_dir.mkdir(parents=True, exist_ok=True)
    _, _, test_set = prepare_splits(config)
    model = build_model(config.model)
    model.load_weights(args.weights)
    save_model_atomic(model, run_dir / "model.keras")
    write_json_atomic(run_dir / "config.json", dataclasses.asdict(config))
    rows = history.to_dict("records")
    best = int(history["val_accuracy"].idxmax())
    state = {"epoch": len(rows), "checkpoint": None, "history": rows, "best": float(rows[best]["val_accuracy"]),
             "best_epoch": int(rows[best]["epoch"]), "wait": 0}
    if args.average:
        state["average"] = {**gpu["average"], "selected": True}
    write_json_atomic(run_dir / "state.json", state)
    write_history(run_dir, rows)
    write_model_description(run_dir, config, model, "classification", SIDE, test_set.label_names)
    metrics = finish_run(run_dir, test_set)
    print(json.dumps({k: metrics[k] for k in ("accuracy", "macro_f1", "best_epoch") if k in metrics}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(required=True)
    p = commands.add_parser("pack", help="pack FER2013 Training/PublicTest from FER_DATA_DIR")
    p.add_argument("--out", default=".gpu")
    p.set_defaults(func=lambda a: pack(a.out))
    t = commands.add_parser("train", help="train on the packed data (Keras 3, any backend)")
    t.add_argument("--data", default=".gpu")
    t.add_argument("--out", required=True)
    t.add_argument("--model", default="resnet10")
    t.add_argument("--epochs", type=int, default=200)
    t.add_argument("--minutes", type=float, default=0.0, help="pick the epochs that fit (timed on epoch 2)")
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=0.1)
    t.add_argument("--weight-decay", type=float, default=0.005)
    t.add_argument("--warmup-epochs", type=int, default=2)
    t.add_argument("--label-smoothing", type=float, default=0.1)
    t.add_argument("--rotation", type=float, default=15.0)
    t.add_argument("--shift", type=float, default=0.15)
    t.add_argument("--zoom", type=float, default=0.15)
    t.add_argument("--erase", type=float, default=0.5)
    t.add_argument("--teacher", default="", help=".npz with 'outputs' (N, C) teacher probabilities for train")
    t.add_argument("--distill", type=float, default=0.5)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--limit", type=int, default=0, help="use only the first N images of each split")
    t.add_argument("--init-from", default="",
                   help="start from these weights: a run record's model.keras or a GPU run's .weights.h5")
    t.add_argument("--average-last", type=float, default=0.0,
                   help="also save the mean of the weights of this last share of the epochs, e.g. 0.25 (SWA)")
    t.set_defaults(func=train)
    r = commands.add_parser("record", help="make a run record of a GPU run's weights (needs TensorFlow)")
    r.add_argument("--weights", required=True)
    r.add_argument("--history", required=True)
    r.add_argument("--config", required=True)
    r.add_argument("--run-dir", required=True)
    r.add_argument("--device", default="")
    r.add_argument("--average", action="store_true", help="--weights is the run's average.weights.h5 (SWA)")
    r.set_defaults(func=record)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
