"""Cross-dataset evaluation: labels mapped by name, unknown classes counted, "all" splits."""

import numpy as np

from fer_core.data import Dataset
from fer_core.runs.evaluation import relabel, unknown_class_counts


def ck_like():
    names = ("anger", "contempt", "happy", "sadness")
    labels = np.array([0, 0, 1, 2, 2, 2, 3])
    return Dataset(name="ck", task="classification", images=np.zeros((7, 48, 48), np.uint8), labels=labels,
                   label_names=names, splits=np.array(["train"] * 7), split_names=("train",),
                   ids=np.array([f"ck:{i}" for i in range(7)]))


def test_labels_are_mapped_by_name_and_unknown_classes_counted():
    fer2013 = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    dataset = ck_like()
    assert unknown_class_counts(dataset, fer2013) == {"contempt": 1}
    mapped = relabel(dataset, fer2013)
    assert [fer2013[label] for label in mapped.labels] == ["angry", "angry", "happy", "happy", "happy", "sad"]


def test_all_means_every_sample():
    dataset = ck_like()
    assert len(dataset.subset("all")) == 7


def test_evaluate_all_of_ckplus48_covers_known_classes_and_counts_the_rest(tmp_path_factory, data_root):
    from fer_core.runs.evaluation import evaluate_model
    from tests.inference_models import tiny_models

    metrics = evaluate_model(tiny_models(tmp_path_factory)["emotion_int8"], "ckplus48", "all")
    assert metrics["n"] == 927 and metrics["excluded"] == {"contempt": 54}
    assert sum(map(sum, metrics["confusion_matrix"])) == 927
    assert metrics["per_class"]["angry"]["support"] == 135 and metrics["per_class"]["neutral"]["support"] == 0


def test_leak_free_accuracy_leaves_out_test_images_copied_from_training(tmp_path_factory, data_root):
    from fer_core.runs.evaluation import evaluate_model
    from tests.inference_models import tiny_models

    model = tiny_models(tmp_path_factory)["emotion_int8"]
    metrics = evaluate_model(model, "fer2013", "PrivateTest")
    leak_free = metrics["leak_free"]
    assert leak_free["left_out"] == 288 and leak_free["n"] == metrics["n"] - 288 == 3301
    assert 0.0 <= leak_free["accuracy"] <= 1.0
    assert "leak_free" not in evaluate_model(model, "fer2013", "all")
