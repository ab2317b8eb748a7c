"""Model cards: the reproducing command and the measured weaknesses come from the run record."""

from fer_core.model_card import measured_weaknesses, render_model_card, train_command


def test_train_command_lists_only_what_differs_from_the_defaults():
    config = {"model": "mini_xception", "data": "fer2013", "epochs": 60, "batch_size": 64, "patience": 15,
              "class_weights": True, "augment": False, "label_smoothing": 0.0}
    assert train_command(config, "assets/runs/x") == (
        "python -m fer_core train --model mini_xception --data fer2013 --epochs 60 --patience 15 "
        "--class-weights --no-augment --run-dir assets/runs/x")


METRICS = {
    "accuracy": 0.6, "macro_f1": 0.5, "n": 10, "split": "PrivateTest", "best_epoch": 3, "epochs_run": 4,
    "per_class": {"a": {"precision": 1.0, "recall": 0.75, "f1": 0.86, "support": 4},
                  "b": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 6}},
    "confusion_matrix": [[3, 1], [3, 3]],
}


def test_measured_weaknesses_name_the_worst_class_and_confusion():
    assert measured_weaknesses(METRICS) == [
        "Lowest recall: b (50.0% of 6 test faces).",
        "Most frequent confusion: b read as a (3 of 6 test faces)."]


def test_card_holds_the_commands_and_numbers():
    card = render_model_card(
        "emotion", "assets/models/emotion.keras", "assets/runs/x", {"model": "mini_xception", "data": "fer2013"},
        {"task": "classification", "params": 58423, "input_size": 48}, METRICS,
        [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.5}],
        [("emotion.tflite", 242224, "accuracy", 0.6, 0.6)], {"LiteRT float32": 0.21})
    assert "Accuracy **60.00%**" in card and "58,423 parameters" in card
    assert ("python -m fer_core evaluate --model assets/models/emotion.keras --data fer2013 "
            "--split PrivateTest --json") in card
    assert "| b | 3 | 3 |" in card and "LiteRT float32 0.21 ms" in card
    assert card.count("| 2 | 1.5 |") == 1
