"""fer_core.app.dataset_views: the Dataset browser's figures as people read them (thousands separators,
percent, n/a), the audit's rows and examples, a model's sort keys with its classes matched by name, the grid
of faces as a table, and the label-noise candidates."""

import numpy as np
import pandas as pd
import pytest

from fer_core.app import dataset_views as views
from fer_core.data import Dataset
from fer_core.runs.evaluation import relabel

CKPLUS = ("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")
FER2013 = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# audit_dataset's report on FER2013 with the FER+ votes (python -m fer_core audit fer2013 --json), cut short.
FER2013_REPORT = {
    "dataset": "fer2013", "samples": 35887,
    "per_split": {"Training": {"angry": 3995, "disgust": 436, "fear": 4097, "happy": 7215, "sad": 4830,
                               "surprise": 3171, "neutral": 4965},
                  "PublicTest": {"angry": 467, "disgust": 56, "fear": 496, "happy": 895, "sad": 653, "surprise": 415,
                                 "neutral": 607},
                  "PrivateTest": {"angry": 491, "disgust": 55, "fear": 528, "happy": 879, "sad": 594,
                                  "surprise": 416, "neutral": 626}},
    "exact_duplicate_groups": 1516, "rows_in_exact_duplicate_groups": 3369, "duplicate_groups_across_splits": 557,
    "test_rows_with_training_copy": {"PublicTest": 280, "PrivateTest": 288}, "conflicting_label_groups": 57,
    "blank_images": 12, "near_duplicate_max_bits": 4, "near_duplicate_pairs": {"within_split": 1335,
                                                                              "across_splits": 684},
    "label_noise": {"rows_with_votes": 35711, "label_differs_from_majority": 13292,
                    "mean_vote_share_for_label": 0.5766940679090188,
                    "pairs": {"sad -> neutral": 3250, "fear -> neutral": 1857, "angry -> neutral": 1629}},
}


def dataset_of(images, labels, splits, names=("a", "b"), task="classification"):
    return Dataset(name="toy", task=task, images=np.asarray(images, np.uint8), labels=np.asarray(labels),
                   label_names=tuple(names), splits=np.asarray(splits), split_names=("train", "test"),
                   ids=np.array([f"toy:{i}" for i in range(len(labels))]),
                   role_splits={"train": "train", "test": "test"})


def test_counts_have_thousands_separators_and_missing_scores_read_n_a():
    assert views.format_count(35887) == "35,887" and views.format_count(12) == "12"
    assert views.format_count(None) == "n/a"
    assert views.format_percent(0.5766940679) == "57.7%" and views.format_percent(1) == "100.0%"
    assert views.format_percent(0.8, 0) == "80%"
    assert views.format_percent(None) == "n/a" and views.format_percent(float("nan")) == "n/a"
    assert views.share_text(280, 3589) == "280 of 3,589 (7.8%)" and views.share_text(0, 0) == "0 of 0 (n/a)"


def test_audit_rows_read_like_the_cli():
    rows = {row["figure"]: row["value"] for row in views.audit_rows(FER2013_REPORT)}
    assert rows["samples"] == "35,887"
    assert rows["groups of exact duplicates (identical pixels)"] == "1,516 (3,369 images; 557 groups span splits)"
    assert rows["duplicate groups whose labels disagree"] == "57"
    assert rows["PublicTest images that are exact copies of training images"] == "280 of 3,589 (7.8%)"
    assert rows["PrivateTest images that are exact copies of training images"] == "288 of 3,589 (8.0%)"
    assert rows["near-duplicate pairs (perceptual hash within 4 bits)"] == "1,335 within a split, 684 across splits"
    assert rows["blank images (one value everywhere)"] == "12"
    assert rows["labels the FER+ annotators' majority does not share"] == "13,292 of 35,711 (37.2%)"
    assert rows["mean share of the FER+ votes for an image's own label"] == "57.7%"
    assert views.label_noise_pair_rows(FER2013_REPORT, limit=2) == [
        {"labelled": "sad", "annotators say": "neutral", "images": "3,250"},
        {"labelled": "fear", "annotators say": "neutral", "images": "1,857"}]
    keypoints = {**FER2013_REPORT, "per_split": {"train": {"samples": 2000}, "test": {"samples": 500}},
                 "test_rows_with_training_copy": {"test": 3}, "conflicting_label_groups": 0}
    keypoints.pop("label_noise")
    rows = {row["figure"]: row["value"] for row in views.audit_rows(keypoints)}
    assert rows["duplicate groups whose labels disagree"] == "n/a"  # no class labels to disagree
    assert rows["test images that are exact copies of training images"] == "3 of 500 (0.6%)"
    assert not any("FER+" in figure for figure in rows)


def test_split_count_rows():
    rows = views.split_count_rows(FER2013_REPORT["per_split"])
    assert rows[0] == {"class": "angry", "Training": "3,995", "PublicTest": "467", "PrivateTest": "491",
                       "all splits": "4,953"}
    assert rows[-1] == {"class": "total", "Training": "28,709", "PublicTest": "3,589", "PrivateTest": "3,589",
                        "all splits": "35,887"}
    toy = dataset_of(np.zeros((4, 8, 8)), [0, -1, 0, 1], ["train", "train", "test", "test"])
    assert views.class_counts_by_split(toy) == {"train": {"a": 1, "b": 0, "(none)": 1}, "test": {"a": 1, "b": 1}}


def test_audit_examples_show_conflicts_test_copies_blanks_and_near_duplicates():
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (6, 48, 48)).astype(np.uint8)
    faces[1] = faces[0]                      # a training copy of face 0 with another label
    faces[3] = faces[2]                      # face 2 (train) copied into the test split, same label
    faces[4] = 77                            # blank
    faces[5] = np.clip(faces[2].astype(int) + 1, 0, 255)  # nearly face 2, in the test split
    toy = dataset_of(faces, [0, 1, 0, 0, 1, 1], ["train", "train", "train", "test", "test", "test"])
    examples = views.duplicate_examples(toy)
    assert [g.tolist() for g in examples["conflicting_labels"]] == [[0, 1]]
    assert [g.tolist() for g in examples["test_copies"]] == [[3, 2]]  # the test image, then its training copy
    assert [g.tolist() for g in examples["blank"]] == [[4]]
    near = views.near_duplicate_examples(toy)
    assert sorted(map(tuple, (p.tolist() for p in near))) == [(2, 5), (3, 5)]
    sheet, lines = views.example_sheet(toy, examples["conflicting_labels"] + examples["blank"], columns=10, cell=64)
    assert sheet.shape == (68 + 4, 4 * 68 + 4, 3)  # groups of up to 2 faces: up to 5 groups a row, here 2
    assert sheet[4 + 32, 4 + 2 * 68 + 32].tolist() == [77, 77, 77]   # group 2's face (blank, 77) in slot 3
    assert sheet[4 + 32, 4 + 3 * 68 + 32].tolist() == [24, 24, 24]   # its empty second slot
    assert lines == ["1: toy:0 (train, a), toy:1 (train, b)", "2: toy:4 (test, b)"]
    assert views.example_sheet(toy, []) == (None, [])


def test_a_models_classes_are_matched_to_the_labels_by_name_as_relabel_does():
    labels = np.array([4, 0, 1, 5, -1, 6])  # happy, anger, contempt, sadness, none, surprise
    toy = dataset_of(np.zeros((6, 4, 4)), labels, ["test"] * 6, names=CKPLUS)
    mapped = views.model_labels(toy, FER2013)
    assert mapped.tolist() == [3, 0, -1, 4, -1, 5]
    labelled = toy.labelled()  # as evaluate_model does before relabel (which reads label -1 as the last class)
    kept = relabel(labelled, FER2013)  # the evaluation's mapping: drops the samples the model cannot know
    assert mapped[mapped >= 0].tolist() == kept.labels.tolist()


def test_mistakenness_sorts_ckplus_faces_by_name_not_by_position():
    # A FER2013 model: face 0 (CK+ happy) answered happy; face 1 (CK+ anger) answered happy at 0.7;
    # face 2 (contempt, unknown to the model) answered neutral at 0.9; face 3 (sadness) answered sad.
    toy = dataset_of(np.zeros((4, 4, 4)), [4, 0, 1, 5], ["test"] * 4, names=CKPLUS)
    p = np.full((4, 7), 0.05)
    p[0, 3], p[1, 3], p[2, 6], p[3, 4] = 0.95, 0.7, 0.9, 0.6
    in_model = views.model_labels(toy, FER2013)
    scores = views.grid_scores("mistakenness", p, in_model)
    assert scores.tolist() == pytest.approx([0.0, 0.7, 0.0, 0.0])  # by position happy (3) != CK+'s happy (4)
    assert views.sorted_positions(np.arange(4), "mistakenness", p, in_model).tolist()[0] == 1
    assert views.sorted_positions(np.array([3, 2, 0]), "hardness", p, in_model).tolist()[-1] == 0
    assert views.sorted_positions(np.array([3, 2]), views.DATASET_ORDER, p, in_model).tolist() == [3, 2]
    assert views.sorted_positions(np.array([3, 2]), "hardness").tolist() == [3, 2]  # no model: as listed
    assert views.grid_scores(views.DATASET_ORDER, p, in_model) is None


def test_per_class_rows_say_n_a_for_absent_and_unknown_classes():
    toy = dataset_of(np.zeros((4, 4, 4)), [4, 4, 0, 1], ["test"] * 4, names=CKPLUS)
    p = np.full((4, 7), 0.0)
    p[[0, 1, 2, 3], [3, 0, 0, 6]] = 1.0  # happy, angry, angry, neutral
    rows = {row["class"]: row for row in views.per_class_rows(toy, p, FER2013)}
    assert rows["happy"] == {"class": "happy", "faces": "2", "model agrees": "50.0%", "mean hardness": "0.0%",
                             "answered most often": "angry"}
    assert rows["anger"]["model agrees"] == "100.0%"
    assert rows["contempt"]["faces"] == "1" and rows["contempt"]["model agrees"] == "n/a"  # unknown to the model
    assert rows["fear"] == {"class": "fear", "faces": "0", "model agrees": "n/a", "mean hardness": "n/a",
                            "answered most often": "n/a"}                                 # absent from the split


def test_probabilities_in_dataset_order():
    p = np.array([[0.1, 0.6, 0.3]])
    out = views.probabilities_in_dataset_order(p, ("neutral", "happiness", "contempt"), ("happy", "sad", "neutral"))
    np.testing.assert_allclose(out, [[0.6, 0.0, 0.1]])


def test_the_grid_is_a_table_of_thumbnails_and_a_selected_cell_is_a_face():
    table = views.grid_table([f"u{i}" for i in range(23)])
    assert table.shape == (3, 10) and list(table.columns) == [str(c) for c in range(1, 11)]
    assert table.iloc[2, 2] == "u22" and pd.isna(table.iloc[2, 3])
    assert views.selected_cell([[2, "3"]], 23) == 22
    assert views.selected_cell([(0, "1"), (1, "10")], 23) == 19  # the last selection counts
    assert views.selected_cell([[2, "4"]], 23) is None          # an empty padding cell
    assert views.selected_cell([], 23) is None and views.selected_cell([[0, "x"]], 23) is None
    toy = dataset_of(np.full((3, 48, 48), 128), [0, 1, -1], ["train"] * 3)
    uris = views.face_thumbnails(toy, np.array([2, 0]), cell=72, notes=["a 90%", "b 40%"])
    assert len(uris) == 2 and all(uri.startswith("data:image/png;base64,") for uri in uris)


def test_label_noise_candidates_by_class_pair():
    table = pd.DataFrame({"id": ["f:1", "f:2", "f:3", "f:4"], "split": ["PrivateTest"] * 4,
                          "label": ["sad", "sad", "happy", "angry"],
                          "annotators": ["neutral", "neutral", "happiness", "anger"],
                          "label_votes": [0.0, 0.1, 0.9, 0.6],
                          "votes_neutral": [0.9, 0.8, 0.0, 0.1], "votes_happiness": [0.1, 0.1, 0.9, 0.0],
                          "votes_anger": [0.0, 0.0, 0.1, 0.6]})
    key = views.pair_key("sad", "neutral")
    assert key == "sad -> neutral"
    assert views.pair_text(key, {key: 3250}) == "labelled sad, annotators say neutral (3,250)"
    assert views.pair_text(views.ALL_PAIRS, {key: 3250, "x -> y": 1}) == "every pair that disagrees (3,251)"
    assert views.noise_candidates(table, key)["id"].tolist() == ["f:1", "f:2"]
    assert views.noise_candidates(table)["id"].tolist() == ["f:1", "f:2"]  # happy/happiness agree by name
    tied = table.assign(label_votes=[0.0, 0.0, 0.9, 0.6], votes_neutral=[0.7, 0.9, 0.0, 0.1])
    assert views.noise_candidates(tied, key)["id"].tolist() == ["f:2", "f:1"]  # equally unsupported: clearer first
    assert views.noise_candidates(table, "happy -> neutral").empty
    assert views.majority_notes(table.head(3)) == ["neutral 90%", "neutral 80%", "happiness 90%"]
    shown = views.noise_display_table(table.assign(model=["sad"] * 4, model_label_p=[0.5, 0.25, 1.0, 0.0]))
    assert shown.iloc[0].to_dict() == {"id": "f:1", "split": "PrivateTest", "label": "sad", "annotators": "neutral",
                                       "votes for the label": "0.0%", "neutral": "90%", "happiness": "10%",
                                       "anger": "0%", "model": "sad", "model p(label)": "50.0%"}


def test_out_of_sample_note_names_the_splits_a_model_did_not_train_on():
    fer = Dataset(name="fer2013", task="classification", images=np.zeros((3, 4, 4), np.uint8),
                  labels=np.zeros(3, int), label_names=FER2013,
                  splits=np.array(["Training", "PublicTest", "PrivateTest"]),
                  split_names=("Training", "PublicTest", "PrivateTest"), ids=np.array(["a", "b", "c"]),
                  role_splits={"train": "Training", "val": "PublicTest", "test": "PrivateTest"})
    note = views.out_of_sample_note("fer2013", "PrivateTest", fer)
    assert "out-of-sample only on the test splits (PublicTest, PrivateTest); on this split they are" in note
    assert "not out-of-sample" in views.out_of_sample_note("ferplus", "Training", fer)
    assert "on Training, part of what is shown, they are not" in views.out_of_sample_note("fer2013", "all splits",
                                                                                           fer)
    assert "out-of-sample" in views.out_of_sample_note("ckplus48", "Training", fer)
