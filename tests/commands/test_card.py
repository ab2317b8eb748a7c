"""fer_core.commands.card: what a model card measures beyond the test split, and for which models."""

from fer_core.commands.card import extra_results, known_weaknesses
from fer_core.runs.evaluation import evaluate_model
from tests.inference_models import tiny_models


def test_extra_results_of_a_fer2013_classifier_and_of_the_file_the_app_runs(tmp_path_factory, data_root):
    models = tiny_models(tmp_path_factory)
    keras_path, int8_path = models["emotion_keras"], models["emotion_int8"]
    rows = extra_results(keras_path, "classification", "fer2013", "PrivateTest", runtime_path=int8_path)
    assert [what for what, _, _ in rows] == [
        "accuracy on PrivateTest without its images that are exact copies of training images (leak-free)",
        "accuracy on PrivateTest with flip TTA",
        "accuracy on FER+ majority labels, PrivateTest (classes it does not know left out)",
        "CK+48, all 981 posed faces (another lab; the classes it knows)",
        f"accuracy of `{int8_path.name}` (what the app runs) on PrivateTest with flip TTA"]
    tta = evaluate_model(int8_path, "fer2013", "PrivateTest", flip_tta=True)
    assert rows[4][1] == f"{100 * tta['accuracy']:.2f}% (n=3,589)"
    assert rows[4][2] == f"python -m fer_core evaluate --model {int8_path} --data fer2013 --split PrivateTest --tta --json"
    assert rows[0][1].endswith("(n=3,301; 288 copies left out)")
    assert rows[2][1].endswith("(n=3,519)")
    assert "(n=927), macro-F1" in rows[3][1] and rows[3][1].endswith("left out: contempt 54")
    assert rows[3][2] == f"python -m fer_core evaluate --model {keras_path} --data ckplus48 --split all --json"
    assert len(extra_results(keras_path, "classification", "fer2013", "PrivateTest")) == 4
    assert extra_results(keras_path, "classification", "ckplus48", "test") == []
    assert extra_results(keras_path, "keypoints", "fer2013", "PrivateTest") == []


def test_known_weaknesses_follow_the_dataset_or_the_task():
    assert any("436 training images" in w for w in known_weaknesses("classification", "fer2013"))
    assert any("no neutral class" in w for w in known_weaknesses("classification", "ckplus48"))
    assert any("machine-made" in w for w in known_weaknesses("keypoints", "keypoints"))
    assert known_weaknesses("classification", "folder:/some/where") == []
