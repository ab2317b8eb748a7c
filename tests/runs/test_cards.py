"""Model cards: the reproducing command and the measured weaknesses come from the run record."""

from fer_core.runs.cards import latency_log, measured_weaknesses, render_model_card, train_command


def test_train_command_lists_only_what_differs_from_the_defaults():
    config = {"model": "mini_xception", "data": "fer2013", "epochs": 60, "batch_size": 64, "patience": 15,
              "class_weights": True, "augment": False, "label_smoothing": 0.0}
    assert train_command(config, "assets/runs/x") == (
        "python -m fer_core train --model mini_xception --data fer2013 --epochs 60 --patience 15 "
        "--class-weights --no-augment --run-dir assets/runs/x")


def test_train_command_reproduces_every_training_option():
    import dataclasses
    import shlex

    from fer_core.cli import build_parser
    from fer_core.training.loop import TrainConfig

    changed = TrainConfig(
        model="resnet10", data="fer2013", epochs=50, batch_size=32, learning_rate=0.05, optimizer="sgd",
        weight_decay=0.005, schedule="constant", warmup_epochs=2, label_smoothing=0.1, class_weights=True,
        soft_labels=True, augment=False, flip=False, rotation=15.0, shift=0.15, zoom=0.2, erase=0.5,
        stretch=0.1, camera=0.3,
        patience=0, input_size=44, fold=3, folds=5, limit=100, seed=7, strategy="mirrored",
        mixup=0.2, init_from="runs/y/model.keras", teachers=["runs/t1/model.keras", "runs/t2/model.keras"],
        distill=0.7, swa_start=20)
    command = train_command(dataclasses.asdict(changed), "runs/x")
    args = build_parser().parse_args(shlex.split(command)[3:])
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    parsed = TrainConfig.from_dict({k: v for k, v in vars(args).items() if k in fields and v is not None})
    assert parsed == changed, command


def test_every_training_option_has_its_flag_in_the_command():
    import dataclasses

    from fer_core.runs import cards
    from fer_core.training.loop import TrainConfig

    written = set(cards._FLAG_FIELDS) | set(cards._SWITCHES) | {"model", "data", "teachers", "extra"}
    assert {f.name for f in dataclasses.fields(TrainConfig)} <= written


METRICS = {
    "accuracy": 0.6, "macro_f1": 0.5, "n": 10, "split": "PrivateTest", "best_epoch": 3, "epochs_run": 4,
    "per_class": {"a": {"precision": 1.0, "recall": 0.75, "f1": 0.86, "support": 4},
                  "b": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 6}},
    "confusion_matrix": [[3, 1], [3, 3]],
}


def test_measured_weaknesses_name_the_worst_class_and_confusion():
    assert measured_weaknesses(METRICS) == [
        "Lowest recall: b (50.0% of 6 test faces).",
        "Most frequent confusion: b read as a (3 of 6 test faces).",
        "Only 10 test faces: the accuracy's 95% interval is about ±30.4 points."]
    assert len(measured_weaknesses({**METRICS, "n": 3589, "accuracy": 0.7278})) == 2  # ±1.46 points: not called out


def test_card_holds_the_commands_and_numbers():
    card = render_model_card(
        "emotion", "assets/models/emotion.keras", "assets/runs/x", {"model": "mini_xception", "data": "fer2013"},
        {"task": "classification", "params": 58423, "input_size": 48}, METRICS,
        [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.5}],
        [("emotion.tflite", 242224, "accuracy", 0.6, 0.6)],
        latency_log([], "AMD EPYC, 2 cores, avx2 fma", {"emotion.tflite": "ab"}, {"LiteRT float32": 0.21}))
    assert "Accuracy **60.00%**" in card and "58,423 parameters" in card
    assert ("python -m fer_core evaluate --model assets/models/emotion.keras --data fer2013 "
            "--split PrivateTest --json") in card
    assert "| b | 3 | 3 |" in card and "| CPU | LiteRT float32 |\n|---|---|\n| AMD EPYC, 2 cores, avx2 fma | 0.21 ms |" in card
    assert card.count("| 2 | 1.5 |") == 1


def test_latency_log_keeps_other_cpus_only_for_the_same_files():
    files = {"m.keras": "aa", "m.tflite": "bb"}
    earlier = [{"cpu": "A", "files": files, "ms_per_face": {"LiteRT int8": 3.5}},
               {"cpu": "B", "files": {**files, "m.tflite": "cc"}, "ms_per_face": {"LiteRT int8": 0.4}},
               {"cpu": "C", "files": files, "ms_per_face": {"LiteRT int8": 2.0}}]
    log = latency_log(earlier, "C", files, {"LiteRT int8": 1.0, "LiteRT float32": 1.2})
    assert log == [earlier[0], {"cpu": "C", "files": files, "ms_per_face": {"LiteRT int8": 1.0, "LiteRT float32": 1.2}}]
    assert latency_log(None, "A", files, {}) == [{"cpu": "A", "files": files, "ms_per_face": {}}]
    # an entry that also timed a file no longer shipped (a float file made on demand) is kept
    wider = {"cpu": "D", "files": {**files, "m_float.tflite": "dd"}, "ms_per_face": {"LiteRT float32": 1.8}}
    assert latency_log([wider], "E", files, {})[0] == wider


def test_card_gives_latency_by_cpu_with_gaps_where_a_backend_was_not_timed():
    log = [{"cpu": "A", "files": {}, "ms_per_face": {"LiteRT int8": 3.5}},
           {"cpu": "B", "files": {}, "ms_per_face": {"LiteRT float32": 0.66, "LiteRT int8": 0.43}}]
    card = render_model_card(
        "emotion", "assets/models/emotion.keras", "assets/runs/x", {"model": "resnet10", "data": "fer2013"},
        {"task": "classification", "params": 10, "input_size": 48}, METRICS, [], [], log)
    assert "| CPU | LiteRT int8 | LiteRT float32 |\n|---|---|---|\n| A | 3.50 ms |  |\n| B | 0.43 ms | 0.66 ms |" in card
    assert "Latency per face" not in render_model_card(
        "emotion", "assets/models/emotion.keras", "assets/runs/x", {"model": "resnet10", "data": "fer2013"},
        {"task": "classification", "params": 10, "input_size": 48}, METRICS, [], [], [])


def test_card_says_when_the_run_kept_the_mean_of_its_epochs_weights():
    averaged = {**METRICS, "weight_average": {"first": 3, "last": 4, "count": 2, "val": 0.7123}}
    card = render_model_card(
        "emotion", "assets/models/emotion.keras", "assets/runs/x", {"model": "resnet10", "data": "fer2013"},
        {"task": "classification", "params": 10, "input_size": 48}, averaged, [{"epoch": 1, "loss": 2.0}], [], [])
    assert ("selected on its validation split (the mean of the weights of epochs 3-4 of 4, stochastic weight "
            "averaging, which scored 0.7123 there, above its best single epoch, 3)") in card
    plain = render_model_card(
        "emotion", "assets/models/emotion.keras", "assets/runs/x", {"model": "resnet10", "data": "fer2013"},
        {"task": "classification", "params": 10, "input_size": 48}, METRICS, [{"epoch": 1, "loss": 2.0}], [], [])
    assert "(best epoch 3 of 4)" in plain


def test_card_of_a_warm_restart_lists_the_earlier_command_first():
    first = {"model": "resnet10", "data": "fer2013", "epochs": 50}
    second = {"model": "resnet10", "data": "fer2013", "epochs": 45, "init_from": "assets/runs/a/model.keras"}
    card = render_model_card(
        "emotion", "assets/models/emotion.keras", "assets/runs/b", second,
        {"task": "classification", "params": 10, "input_size": 48}, METRICS, [{"epoch": 1, "loss": 2.0}],
        [], [], earlier_runs=[(first, "assets/runs/a")])
    a = card.index("--epochs 50 --run-dir assets/runs/a")
    b = card.index("--epochs 45 --init-from assets/runs/a/model.keras --run-dir assets/runs/b")
    assert a < b and "starts from the weights of `assets/runs/a/model.keras`" in card


def test_card_of_a_distilled_run_gives_its_teachers_and_their_commands_first():
    teacher = {"model": "resnet10", "data": "fer2013", "epochs": 50}
    student = {"model": "mini_xception", "data": "fer2013", "epochs": 30, "distill": 0.7,
               "teachers": ["assets/runs/a/model.keras", "assets/runs/b/model.keras"]}
    command = train_command(student, "assets/runs/s")
    assert command.endswith("--distill 0.7 --teacher assets/runs/a/model.keras "
                            "--teacher assets/runs/b/model.keras --run-dir assets/runs/s")
    card = render_model_card(
        "emotion", "assets/models/emotion.keras", "assets/runs/s", student,
        {"task": "classification", "params": 10, "input_size": 48}, METRICS, [{"epoch": 1, "loss": 2.0}],
        [], [], earlier_runs=[(teacher, "assets/runs/a"), ({**teacher, "seed": 1}, "assets/runs/b")])
    assert card.index("--run-dir assets/runs/a") < card.index("--run-dir assets/runs/b") < card.index(command)
    assert ("learns from the averaged outputs of `assets/runs/a/model.keras` and `assets/runs/b/model.keras` "
            "(distillation)") in card


def test_train_command_of_a_run_trained_elsewhere_is_its_own():
    config = {"model": "resnet18", "data": "fer2013", "extra": {"train_command": "python tools/x.py train"}}
    assert train_command(config, "assets/runs/x") == "python tools/x.py train"


def test_card_of_a_kfold_run_names_its_fold_and_evaluates_that_fold():
    config = {"model": "lenet5", "data": "ckplus48", "fold": 3, "folds": 5}
    card = render_model_card(
        "lenet5-ckplus48", "assets/runs/l/model.keras", "assets/runs/l", config,
        {"task": "classification", "params": 10, "input_size": 48}, {**METRICS, "split": "test"}, [],
        [("model.keras", 1000, None, None, None)], [])
    assert "reported once on `test` (10 samples; subject-independent fold 3 of 5)" in card
    assert ("python -m fer_core evaluate --model assets/runs/l/model.keras --data ckplus48 --split test "
            "--fold 3 --folds 5 --json") in card
    assert "Reproduce (its accuracy, and its latency on your CPU):" in card
    assert "--split test --fold 3 --folds 5 --latency --json" in card
    default_fold = render_model_card(
        "lenet5-ckplus48", "assets/runs/l/model.keras", "assets/runs/l", {**config, "fold": 0, "folds": 10},
        {"task": "classification", "params": 10, "input_size": 48}, {**METRICS, "split": "test"}, [], [], [])
    assert "fold 0 of 10)" in default_fold and "--folds" not in default_fold
