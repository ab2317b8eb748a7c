"""Weight averaging (SWA and model soups): the running mean, batch-norm statistics measured
again, and a training run that averages its epochs and keeps the mean only when it is better."""

import json

import numpy as np
import pytest

from fer_core.training.averaging import average_weights, greedy_soup, recompute_batch_norm, running_average
from fer_core.runs.recording import train_run
from fer_core.training.loop import TrainConfig, _add_to_average


def test_running_average_is_the_mean_of_all_weight_lists_so_far():
    lists = [[np.full((2, 3), v, np.float32), np.array([v, 2 * v], np.float32)] for v in (1.0, 2.0, 6.0)]
    mean, count = None, 0
    for weights in lists:
        mean, count = running_average(mean, weights, count), count + 1
    np.testing.assert_allclose(mean[0], np.full((2, 3), 3.0))
    np.testing.assert_allclose(mean[1], [3.0, 6.0])
    np.testing.assert_allclose(average_weights(lists)[1], [3.0, 6.0])


def test_integer_state_is_taken_from_the_newest_model_not_averaged():
    mean = average_weights([[np.array([1.0]), np.array([4], np.int64)], [[3.0], np.array([7], np.int64)]])
    assert mean[1].dtype == np.int64 and mean[1].tolist() == [7] and mean[0].tolist() == [2.0]


def test_average_weights_refuses_no_models_or_different_architectures():
    with pytest.raises(ValueError, match="no models"):
        average_weights([])
    with pytest.raises(ValueError, match="differ in architecture"):
        average_weights([[np.zeros(3)], [np.zeros(4)]])


def test_recompute_batch_norm_sets_the_statistics_of_the_given_images():
    import keras

    inputs = keras.Input((4, 4, 2))
    model = keras.Model(inputs, keras.layers.BatchNormalization(momentum=0.9)(inputs))
    rng = np.random.default_rng(0)
    images = (rng.normal(size=(64, 4, 4, 2)) * [1.0, 3.0] + [5.0, -2.0]).astype(np.float32)
    assert recompute_batch_norm(model, images, batch_size=16) == 1
    layer = model.layers[-1]
    np.testing.assert_allclose(np.asarray(layer.moving_mean), images.mean(axis=(0, 1, 2)), rtol=1e-5)
    batch_vars = [images[i:i + 16].var(axis=(0, 1, 2)) for i in range(0, 64, 16)]
    # Keras keeps the biased variance of each batch; the result is their mean
    np.testing.assert_allclose(np.asarray(layer.moving_variance), np.mean(batch_vars, axis=0), rtol=1e-4)
    assert layer.momentum == 0.9, "the layer's own momentum is restored"


def test_add_to_average_keeps_a_committed_mean_in_the_checkpoints(tmp_path):
    average = None
    for epoch, value in [(3, 1.0), (4, 2.0), (5, 6.0)]:
        average = _add_to_average(tmp_path, average, [np.full(2, value, np.float32)], epoch)
    assert average == {"path": "checkpoints/average-epoch-0005.npz", "first": 3, "last": 5, "count": 3}
    with np.load(tmp_path / average["path"]) as saved:
        np.testing.assert_allclose(saved["w0"], [3.0, 3.0])


def test_a_run_averages_its_epochs_and_keeps_the_mean_only_when_it_is_better(tmp_path, data_root):
    import keras

    run = tmp_path / "run"
    config = TrainConfig(model="emotion_cnn", data="fer2013-sample", epochs=2, limit=64, patience=0, swa_start=1)
    train_run(config, run, verbose=0)
    state = json.loads((run / "state.json").read_text())
    assert state["average"]["count"] == 2 and state["average"]["first"] == 1
    # a resumed run goes on adding to the same mean and measures it again
    metrics = train_run(TrainConfig(model="emotion_cnn", data="fer2013-sample", epochs=3), run, resume=True, verbose=0)
    state = json.loads((run / "state.json").read_text())
    average = state["average"]
    assert (average["first"], average["last"], average["count"], average["measured_at"]) == (1, 3, 3, 3)
    assert [p.name for p in (run / "checkpoints").glob("average-*.npz")] == ["average-epoch-0003.npz"]
    assert average["selected"] == (average["val"] > state["best"])
    assert ("weight_average" in metrics) == average["selected"]
    kept = keras.models.load_model(run / "model.keras")
    with np.load(run / average["path"]) as saved:
        mean = [saved[f"w{i}"] for i in range(len(saved.files))]
    same = all(np.allclose(w, m) for w, m in zip(kept.get_weights(), mean))  # emotion_cnn has no batch norm
    assert same == average["selected"], "model.keras holds the mean exactly when it was selected"


def test_greedy_soup_keeps_a_model_only_when_the_mean_does_not_score_lower():
    # score: closeness of the single weight to 2.0; alone, b (1.7) is best, then a (2.4), then c (-5.0)
    def score(weights):
        return -abs(float(weights[0][0]) - 2.0)

    candidates = [("a", [np.array([2.4])]), ("b", [np.array([1.7])]), ("c", [np.array([-5.0])])]
    kept, weights, best, alone = greedy_soup(candidates, score)  # b+a: 2.05, kept; b+a+c: -0.3, left out
    assert kept == ["b", "a"] and weights[0] == pytest.approx([2.05]) and best == pytest.approx(-0.05)
    assert alone == pytest.approx({"a": -0.4, "b": -0.3, "c": -7.0})


def test_soup_of_two_runs_is_a_run_record_that_names_its_ingredients(tmp_path, data_root):
    from fer_core.cli import main
    from fer_core.runs.cards import train_command
    from fer_core.runs.records import earlier_runs

    paths = []
    for seed in (0, 1):
        train_run(TrainConfig(model="emotion_cnn", data="fer2013-sample", epochs=1, limit=64, patience=0, seed=seed),
              tmp_path / f"r{seed}", verbose=0)
        paths.append(str(tmp_path / f"r{seed}" / "model.keras"))
    soup = tmp_path / "soup"
    assert main(["soup", "--models", *paths, "--data", "fer2013-sample", "--run-dir", str(soup)]) == 0
    metrics = json.loads((soup / "metrics.json").read_text())
    config = json.loads((soup / "config.json").read_text())
    assert metrics["n"] == 100 and set(metrics["soup"]["alone"]) == set(paths)
    assert metrics["soup"]["val"] >= max(metrics["soup"]["alone"].values())
    assert config["extra"]["kept"] == metrics["soup"]["models"]
    assert train_command(config, soup).startswith("python -m fer_core soup --models ")
    assert [str(folder) for _, folder in earlier_runs(config)] == [str(tmp_path / "r0"), str(tmp_path / "r1")]
    uniform = tmp_path / "uniform"
    assert main(["soup", "--models", *paths, "--data", "fer2013-sample", "--run-dir", str(uniform), "--uniform",
                 "--batch-norm-images", "0"]) == 0
    assert json.loads((uniform / "metrics.json").read_text())["soup"]["models"] == paths
    assert json.loads((uniform / "config.json").read_text())["extra"]["train_command"].endswith(
        " --batch-norm-images 0 --uniform")
    assert main(["soup", "--models", paths[0], "--data", "fer2013-sample", "--run-dir", str(tmp_path / "x")]) == 2
    assert main(["soup", "--models", *paths, "--data", "fer2013-sample", "--run-dir", str(soup)]) == 2
