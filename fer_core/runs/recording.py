"""Run records that hold test figures: a training run evaluated on its test split, and model soups.

``train_run`` is what ``python -m fer_core train`` does: ``training.loop.train`` (the epochs, the
checkpoints, the best model on the validation split), then ``finish_run`` (metrics.json and
predictions.csv of the test split). ``make_soup_run`` writes the same kind of record for a soup.
"""

import contextlib
import dataclasses
from pathlib import Path

import numpy as np

from fer_core.config import KEYPOINT_COLUMNS, KEYPOINTS, MODEL_CARD_FILENAME, SOUP_BATCH_NORM_IMAGES
from fer_core.errors import ModelError, RunError
from fer_core.inference.batch import fit_images, predict_dataset
from fer_core.runs.evaluation import evaluate_outputs
from fer_core.storage import file_sha256, read_json, save_model_atomic, write_csv_atomic, write_json_atomic
from fer_core.training.loop import (TrainConfig, monitored_metric, prepare_splits, run_lock, train, write_history,
                                    write_model_description)


def train_run(config, run_dir, resume=False, verbose=None, finish_now=False):
    """Trains a zoo model and writes its whole run record, test figures included.

    # Example
    ```python
    metrics = train_run(TrainConfig(model="mini_xception", data="fer2013", epochs=60), "runs/mx")
    ```

    Arguments:
        config, run_dir, resume, verbose: as for ``training.loop.train``.
        finish_now: with ``resume``, train no further: evaluate the best model so far and write
            metrics.json and predictions.csv (a later resume trains on and rewrites them).

    Returns:
        the test-split metrics (dict); {} on a multi-worker run's non-chief worker.

    Raises:
        RunError: see ``training.loop.train``; the run folder's lock is held from the start of
            training to the last test figure, so another process cannot write the run meanwhile.
    """
    with contextlib.ExitStack() as lock:
        test_set = train(config, run_dir, resume=resume, verbose=verbose, finish_now=finish_now, hold_lock=lock)
        if test_set is None:  # a multi-worker run's non-chief worker: the chief writes the record
            return {}
        return finish_run(run_dir, test_set)


def make_soup_run(model_paths, data, run_dir, command="", batch_norm_images=SOUP_BATCH_NORM_IMAGES,
                  uniform=False):
    """A run record whose model is a greedy soup of models of one architecture (``fer_core soup``).

    Each model is scored on the validation split; the best one is the start, and each next one
    joins the mean of the weights if the mean (with batch-norm statistics measured again on the
    training images) does not score lower. The record holds the soup, its validation score and
    test metrics, like a training run's; its config names the ingredients under ``extra``.

    Arguments:
        model_paths: .keras classifiers or keypoint models, all of the same zoo architecture.
        data: the dataset they were trained on.
        run_dir: the run record folder to write (must not hold a run).
        command: the command line, kept as the record's reproducing command.
        batch_norm_images: how many training images (a fixed random choice) measure the statistics;
            0 = all of them (fairer to models whose own statistics came from all, 3.5x slower on FER2013).
        uniform: average all the models, with no greedy choice (a uniform soup).

    Returns:
        the test-split metrics (dict), with ``soup`` = {"models", "val", "alone"}.

    Raises:
        RunError: fewer than two models, a missing or unreadable one, or different architectures.
    """
    from fer_core.inference.runtime import load_keras_model
    from fer_core.training.averaging import average_weights, greedy_soup, recompute_batch_norm

    run_dir = Path(run_dir)
    if len(model_paths) < 2:
        raise RunError("a soup needs at least two models")
    if (run_dir / "state.json").exists() or (run_dir / "metrics.json").exists():
        raise RunError(f"{run_dir} already holds a run; use another --run-dir")
    models = []
    for path in model_paths:
        try:
            models.append(load_keras_model(path))
        except ModelError as error:
            raise RunError(f"--models {error}") from None
    shapes = [tuple(w.shape) for w in models[0].weights]
    for path, model in zip(model_paths[1:], models[1:]):
        if [tuple(w.shape) for w in model.weights] != shapes:
            raise RunError(f"{path}: its architecture differs from {model_paths[0]}'s")
    info = read_json(Path(model_paths[0]).parent / "model_info.json") or read_json(
        Path(str(model_paths[0]).removesuffix(".keras") + ".model_info.json")) or {}
    zoo_name = info.get("model") or models[0].name
    config = TrainConfig(model=zoo_name, data=data, epochs=0, extra={"soup": [str(p) for p in model_paths]})
    train_set, val_set, test_set = prepare_splits(config)
    model, side = models[0], models[0].input_shape[1]
    pick = np.random.default_rng(0).permutation(len(train_set))[:batch_norm_images or None]
    train_images = fit_images(train_set.images[np.sort(pick)], side)
    task = train_set.task
    monitor, mode = monitored_metric(task)
    sign = -1.0 if mode == "min" else 1.0

    def hold(weights):  # every candidate alike: its batch-norm statistics measured on the same images
        model.set_weights(weights)
        recompute_batch_norm(model, train_images)

    def score(weights):
        hold(weights)
        metrics = evaluate_outputs(val_set, predict_dataset(model, val_set))
        return sign * float(metrics[monitor.removeprefix("val_")])

    candidates = [(str(p), m.get_weights()) for p, m in zip(model_paths, models)]
    if uniform:
        alone = {name: score(weights) for name, weights in candidates}
        kept, weights = [name for name, _ in candidates], average_weights([w for _, w in candidates])
        best = score(weights)
    else:
        kept, weights, best, alone = greedy_soup(candidates, score)
        hold(weights)  # the last weights scored may have been a rejected trial
    with run_lock(run_dir):  # one writer: a training run started on this folder meanwhile is refused
        if (run_dir / "state.json").exists() or (run_dir / "metrics.json").exists():
            raise RunError(f"{run_dir} already holds a run; use another --run-dir")
        config.extra.update(kept=kept, train_command=command)
        write_json_atomic(run_dir / "config.json", dataclasses.asdict(config))
        save_model_atomic(model, run_dir / "model.keras")
        write_model_description(run_dir, config, model, task, side, train_set.label_names)
        soup = {"models": kept, "val": sign * best, "alone": {k: sign * v for k, v in alone.items()},
                "uniform": bool(uniform)}
        write_json_atomic(run_dir / "state.json", {"epoch": 0, "checkpoint": None, "history": [],
                                                    "best": sign * best, "best_epoch": None, "wait": 0, "soup": soup})
        write_history(run_dir, [])
        return finish_run(run_dir, test_set)


def finish_run(run_dir, test_set):
    """Evaluates the best model on the test split; writes metrics.json and predictions.csv, and
    the SHA-256 of model.keras into model_info.json (``weights_sha256``)."""
    import pandas as pd

    from fer_core.inference.runtime import KerasModel, load_keras_model, median_latency_ms

    run_dir = Path(run_dir)
    model = load_keras_model(run_dir / "model.keras")  # without its optimizer (compile=False)
    save_model_atomic(model, run_dir / "model.keras")  # so the kept file holds weights only
    # The record is committed without model.keras (README: weights policy); this names the weights it describes.
    info = read_json(run_dir / "model_info.json") or {}
    write_json_atomic(run_dir / "model_info.json", {**info, "weights_sha256": file_sha256(run_dir / "model.keras")})
    outputs = predict_dataset(model, test_set)
    metrics = evaluate_outputs(test_set, outputs)
    metrics["split"] = str(test_set.splits[0]) if len(test_set) else ""
    state = read_json(run_dir / "state.json") or {}
    metrics["best_epoch"] = state.get("best_epoch")
    average = state.get("average") or {}
    if average.get("selected"):
        metrics["weight_average"] = {k: average[k] for k in ("first", "last", "count", "val")}
    if state.get("soup"):
        metrics["soup"] = state["soup"]
    metrics["epochs_run"] = state.get("epoch")
    metrics["stopped_early"] = state.get("stopped_early")
    # Keras predict_on_batch, one face: comparable between runs (exported TFLite is faster).
    metrics["ms_per_face"] = round(median_latency_ms(KerasModel(model), model.input_shape[1], repeat=30), 3)
    write_json_atomic(run_dir / "metrics.json", metrics)
    (run_dir / MODEL_CARD_FILENAME).unlink(missing_ok=True)  # it gave the figures just replaced
    frame = pd.DataFrame({"id": test_set.ids})
    if test_set.task == KEYPOINTS:
        # Predictions and each face's error only: the annotations stay in FER_DATA_DIR (run records are committed).
        truth = test_set.keypoints.reshape(len(test_set), -1)
        predicted = outputs.reshape(len(test_set), -1)
        frame["rmse_px"] = np.sqrt(np.nanmean((predicted - truth) ** 2, axis=1))
        for i, column in enumerate(KEYPOINT_COLUMNS):
            frame[f"pred_{column}"] = predicted[:, i]
    else:
        # Predictions only: the true labels are joined from FER_DATA_DIR when read (runs.with_true_labels).
        names = np.array(test_set.label_names)
        frame["predicted"] = names[outputs.argmax(axis=1)]
        frame["confidence"] = outputs.max(axis=1)
        for i, name in enumerate(names):
            frame[f"p_{name}"] = outputs[:, i]
    write_csv_atomic(run_dir / "predictions.csv", frame)
    return metrics
