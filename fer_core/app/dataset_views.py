"""The Dataset browser's work, without Streamlit: figures written for people, a model's probabilities on a
split and the sort keys they give, the grid of faces as a table of thumbnails, the audit's figures and
examples, and FER2013's label noise against the FER+ votes.

Every figure the page shows is formatted here, one way: counts with thousands separators
(``format_count``: 35,887) and scores in percent (``format_percent``: 57.7%), "n/a" where a score has
nothing to be computed on (a class absent from a split, or one the model does not know).
"""

import math

import numpy as np
import pandas as pd

from fer_core.config import CLASSIFICATION, canonical_emotion
from fer_core.data.audit import (
    blank_mask, duplicate_groups, near_duplicate_pairs, perceptual_hashes, pixel_hashes,
)
from fer_core.data.sprites import captioned_grid, label_bars, labelled_cells
from fer_core.inference.embedding import labels_for_model
from fer_core.runs.inspection import SORT_KEYS, hardness, mistakenness, sort_order

NOT_AVAILABLE = "n/a"
KEYPOINT_BAR, FILLER_BAR = "#3a3a40", "#18181c"  # bars of unlabelled faces and of empty slots in example sheets
DATASET_ORDER = "dataset order"
# The sample grid's sort keys: the dataset's order, then those that need a model's probabilities.
GRID_SORT_KEYS = {DATASET_ORDER: "as the dataset lists them", **SORT_KEYS}
GRID_COLUMNS = 10
EXAMPLES_PER_KIND = 12
# Datasets made of FER2013's images (a model trained on one has seen the others' Training images).
FER2013_FAMILY = ("fer2013", "ferplus", "fer2013-sample")


# ---------------------------------------------------------------- figures for people

def format_count(value):
    """35887 -> '35,887'; None -> 'n/a'."""
    return NOT_AVAILABLE if value is None else f"{int(value):,}"


def format_percent(value, digits=1):
    """0.5767 -> '57.7%'; None or NaN (nothing to compute it on) -> 'n/a'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NOT_AVAILABLE
    return f"{100 * float(value):.{digits}f}%"


def share_text(count, total):
    """'280 of 3,589 (7.8%)'; 'n/a' of an empty total."""
    return f"{format_count(count)} of {format_count(total)} ({format_percent(count / total if total else None)})"


# ---------------------------------------------------------------- the audit

def split_sizes(report):
    """{split: samples} from an audit report's ``per_split`` counts."""
    return {split: int(sum(counts.values())) for split, counts in report["per_split"].items()}


def audit_rows(report):
    """The audit's figures as {"figure", "value"} rows of readable text (``fer_core.data.audit.audit_dataset``).

    Arguments:
        report: the dict ``audit_dataset`` returns (with ``label_noise`` when FER+ votes were given).

    Returns:
        list of dicts; conflicting labels are "n/a" for a dataset without class labels.
    """
    sizes = split_sizes(report)
    near = report["near_duplicate_pairs"]
    classification = any(name != "samples" for counts in report["per_split"].values() for name in counts)
    rows = [
        {"figure": "samples", "value": format_count(report["samples"])},
        {"figure": "groups of exact duplicates (identical pixels)",
         "value": f"{format_count(report['exact_duplicate_groups'])} "
                  f"({format_count(report['rows_in_exact_duplicate_groups'])} images; "
                  f"{format_count(report['duplicate_groups_across_splits'])} groups span splits)"},
        {"figure": "duplicate groups whose labels disagree",
         "value": format_count(report["conflicting_label_groups"]) if classification else NOT_AVAILABLE},
    ]
    for split, count in report["test_rows_with_training_copy"].items():
        rows.append({"figure": f"{split} images that are exact copies of training images",
                     "value": share_text(count, sizes.get(split, 0))})
    rows += [
        {"figure": f"near-duplicate pairs (perceptual hash within {report['near_duplicate_max_bits']} bits)",
         "value": f"{format_count(near['within_split'])} within a split, {format_count(near['across_splits'])} "
                  "across splits"},
        {"figure": "blank images (one value everywhere)", "value": format_count(report["blank_images"])},
    ]
    noise = report.get("label_noise")
    if noise:
        rows += [
            {"figure": "labels the FER+ annotators' majority does not share",
             "value": share_text(noise["label_differs_from_majority"], noise["rows_with_votes"])},
            {"figure": "mean share of the FER+ votes for an image's own label",
             "value": format_percent(noise["mean_vote_share_for_label"])},
        ]
    return rows


def class_counts_by_split(dataset):
    """{split: {class: samples}} of a classification dataset, "(none)" counting the unlabelled ones where
    there are any (the shape of an audit report's ``per_split``)."""
    out = {}
    for split in dataset.split_names:
        labels = dataset.labels[np.asarray(dataset.splits) == split]
        counts = {name: int((labels == k).sum()) for k, name in enumerate(dataset.label_names)}
        out[split] = {**counts, "(none)": int((labels < 0).sum())} if (labels < 0).any() else counts
    return out


def split_count_rows(per_split):
    """Samples per class (rows) and split (columns) with their totals, as readable counts.

    Arguments:
        per_split: {split: {class: count}} (``class_counts_by_split``, or an audit report's ``per_split``).
    """
    splits = list(per_split)
    classes = list(dict.fromkeys(c for counts in per_split.values() for c in counts))
    rows = [{"class": name, **{split: format_count(per_split[split].get(name, 0)) for split in splits},
             "all splits": format_count(sum(per_split[split].get(name, 0) for split in splits))}
            for name in classes]
    sizes = {split: sum(counts.values()) for split, counts in per_split.items()}
    rows.append({"class": "total", **{split: format_count(sizes[split]) for split in splits},
                 "all splits": format_count(sum(sizes.values()))})
    return rows


def label_noise_pair_rows(report, limit=10):
    """The most frequent (label -> FER+ majority) pairs of an audit report, as readable rows."""
    pairs = list((report.get("label_noise") or {}).get("pairs", {}).items())[:limit]
    return [{"labelled": pair.split(" -> ")[0], "annotators say": pair.split(" -> ")[1], "images": format_count(count)}
            for pair, count in pairs]


def duplicate_examples(dataset, limit=EXAMPLES_PER_KIND):
    """Examples of what the audit counts by exact pixel copies and blank images.

    Returns:
        dict of lists of index arrays (``limit`` at most each): ``conflicting_labels`` (duplicate groups
        whose labels disagree), ``test_copies`` (a test or validation image and a training image with the
        same pixels), ``blank`` (one image each).
    """
    keys = pixel_hashes(dataset.images)
    groups = duplicate_groups(keys)
    splits = np.asarray(dataset.splits)
    labels = dataset.labels
    conflicting = [g for g in groups if len(set(labels[g][labels[g] >= 0].tolist())) > 1] \
        if dataset.task == CLASSIFICATION else []
    train = dataset.role_splits.get("train")
    copies = []
    for group in groups:
        in_train = group[splits[group] == train]
        copies += [np.array([i, in_train[0]]) for i in group[splits[group] != train]] if len(in_train) else []
    blank = [np.array([i]) for i in np.flatnonzero(blank_mask(dataset.images))]
    return {"conflicting_labels": conflicting[:limit], "test_copies": copies[:limit], "blank": blank[:limit]}


def near_duplicate_examples(dataset, limit=EXAMPLES_PER_KIND):
    """Pairs of near duplicates as the audit finds them, pairs across splits first (index arrays of two)."""
    keys = pixel_hashes(dataset.images)
    blank = blank_mask(dataset.images)
    pairs = near_duplicate_pairs(perceptual_hashes(dataset.images), keys, skip=blank)
    splits = np.asarray(dataset.splits)
    across = splits[pairs[:, 0]] != splits[pairs[:, 1]]
    ordered = np.concatenate([pairs[across], pairs[~across]])
    return [pair for pair in ordered[:limit]]


def example_sheet(dataset, groups, columns=GRID_COLUMNS, cell=64):
    """Groups of faces side by side, each group numbered, a face's split written above it and its label
    on its bar; each group starts a new slot of the row (a row holds ``columns // size`` groups).

    Arguments:
        dataset: the ``Dataset`` the indices point into.
        groups: index arrays (pairs, duplicate groups, single images).
        columns, cell: grid layout.

    Returns:
        (uint8 RGB sheet or None when there are no groups, list of "N: id (split, label)" lines per group).
    """
    if not len(groups):
        return None, []
    size = min(columns, max(len(g) for g in groups))
    per_row = min(len(groups), max(1, columns // size))
    side = dataset.images.shape[1]
    filler = np.full((side, side), 24, np.uint8)
    images, captions, colors, notes, lines = [], [], [], [], []
    labelled = dataset.task == CLASSIFICATION
    for number, group in enumerate(groups, start=1):
        group = np.asarray(group)[:size]
        bar_colors, names = label_bars(dataset.labels[group], dataset.label_names) if labelled \
            else ([None] * len(group), [""] * len(group))
        for index, color, name in zip(group, bar_colors, names):
            images.append(dataset.images[index])
            captions.append(f"{number} {name}".strip())
            colors.append(color if labelled else KEYPOINT_BAR)
            notes.append(str(dataset.splits[index]))
        for _ in range(size - len(group)):  # an empty slot, in the sheet's background colour
            images.append(filler)
            captions.append("")
            colors.append(FILLER_BAR)
            notes.append("")
        described = [f"{dataset.ids[i]} ({dataset.splits[i]}{', ' + names[k] if labelled else ''})"
                     for k, i in enumerate(group)]
        lines.append(f"{number}: " + ", ".join(described))
    sheet, _ = captioned_grid(np.stack(images), captions, colors, per_row * size, cell, 4, notes)
    return sheet, lines


# ---------------------------------------------------------------- a model on a split

def model_probabilities(model_path, dataset):
    """A classifier's probabilities for every sample of a dataset, as the app shows them.

    Arguments:
        model_path: a ``.keras`` model (its ``.tflite`` beside it runs when present, through LiteRT).
        dataset: the split to run on.

    Returns:
        (float32 (N, C) probabilities adjusted as the model's info file says, the model's C class names).
    """
    from fer_core.inference.batch import predict_dataset
    from fer_core.inference.confidence import adjust_probabilities
    from fer_core.inference.runtime import load_model_runner, read_info_file

    info = read_info_file(model_path) or {}
    runner = load_model_runner(model_path, prefer_tflite=True)
    outputs = predict_dataset(runner, dataset)
    names = tuple(info.get("label_names") or dataset.label_names)
    return adjust_probabilities(outputs, info.get("output_adjustment")), names


def model_labels(dataset, model_label_names):
    """The dataset's labels as the model's class indices, matched by emotion name (as
    ``runs.evaluation.relabel`` does); -1 where a sample has no label or one the model does not know."""
    return labels_for_model(dataset.labels, dataset.label_names, model_label_names)


def sorted_positions(positions, key, probabilities=None, labels_in_model=None):
    """The grid's sample positions in the order of a ``GRID_SORT_KEYS`` key (highest score first).

    Arguments:
        positions: the sample positions shown (a filter's result).
        key: a ``GRID_SORT_KEYS`` key; all but ``DATASET_ORDER`` need probabilities.
        probabilities: (N, C) of the whole split, in the model's class order.
        labels_in_model: (N,) the split's labels as the model's classes (``model_labels``).
    """
    positions = np.asarray(positions)
    if key == DATASET_ORDER or probabilities is None:
        return positions
    labels = None if labels_in_model is None else np.asarray(labels_in_model)[positions]
    return positions[sort_order(key, np.asarray(probabilities)[positions], labels)]


def grid_scores(key, probabilities, labels_in_model):
    """The score of a sort key for each sample (hardness, mistakenness or confidence, 0..1); None for
    the dataset's order."""
    if key == "hardness":
        return hardness(probabilities)
    if key == "mistakenness":
        return mistakenness(probabilities, labels_in_model)
    if key == "confidence":
        return np.asarray(probabilities).max(axis=1)
    return None


def per_class_rows(dataset, probabilities, model_label_names):
    """How a model does on each class of a split, as readable rows.

    Returns:
        list of dicts: class, faces, "model agrees" (share of the class's faces whose answer is the label,
        by name), "mean hardness" and "answered most often"; "n/a" where the class has no face in the
        split, or (agreement) where the model does not know the class.
    """
    labels = model_labels(dataset, model_label_names)
    answers = np.asarray(probabilities).argmax(axis=1)
    hard = hardness(probabilities)
    rows = []
    for k, name in enumerate(dataset.label_names):
        mine = dataset.labels == k
        count = int(mine.sum())
        known = count and (labels[mine] >= 0).all()
        top = np.bincount(answers[mine], minlength=len(model_label_names)).argmax() if count else None
        rows.append({"class": name, "faces": format_count(count),
                     "model agrees": format_percent((answers[mine] == labels[mine]).mean() if known else None),
                     "mean hardness": format_percent(hard[mine].mean() if count else None),
                     "answered most often": model_label_names[top] if top is not None else NOT_AVAILABLE})
    return rows


def probabilities_in_dataset_order(probabilities, model_label_names, label_names):
    """A model's probabilities rearranged into a dataset's class order by emotion name (0 for a class the
    model does not have; a model's class the dataset lacks, e.g. FER+'s contempt, is left out)."""
    probabilities = np.asarray(probabilities)
    position = {canonical_emotion(n): i for i, n in enumerate(model_label_names)}
    out = np.zeros((len(probabilities), len(label_names)), np.float32)
    for k, name in enumerate(label_names):
        if canonical_emotion(name) in position:
            out[:, k] = probabilities[:, position[canonical_emotion(name)]]
    return out


def out_of_sample_note(model_dataset, shown_split, dataset):
    """What to say about a model's answers on a split: out-of-sample only on the splits it did not train on.

    Arguments:
        model_dataset: the dataset the model trained on ("fer2013", "ferplus", ... or "").
        shown_split: the split shown (a split name, or "all splits").
        dataset: the full dataset shown.
    """
    train = dataset.role_splits.get("train")
    same_images = model_dataset == dataset.name or (model_dataset in FER2013_FAMILY and dataset.name in FER2013_FAMILY)
    if not same_images or train is None:
        return (f"The model trained on {model_dataset or 'another dataset'}: its answers here are out-of-sample "
                "(unless the two datasets share images).")
    tests = [s for s in dataset.split_names if s != train]
    where = "on this split they are" if shown_split in tests else (
        f"on {train} (shown here) they are the model's own training images: not out-of-sample"
        if shown_split == train else f"on {train}, part of what is shown, they are not")
    return (f"The model trained on {model_dataset}'s {train} split: its probabilities are out-of-sample only on "
            f"the test splits ({', '.join(tests)}); {where}.")


# ---------------------------------------------------------------- the grid of faces as a table

def grid_table(uris, columns=GRID_COLUMNS):
    """Thumbnails laid out row by row in a table of ``columns`` columns named "1".."columns" (None pads
    the last row), for ``st.dataframe`` with image columns and cell selection."""
    rows = max(1, math.ceil(len(uris) / columns))
    cells = list(uris) + [None] * (rows * columns - len(uris))
    return pd.DataFrame([cells[r * columns:(r + 1) * columns] for r in range(rows)],
                        columns=[str(c + 1) for c in range(columns)])


def selected_cell(cells, count, columns=GRID_COLUMNS):
    """The position on the page of a selected table cell, or None.

    Arguments:
        cells: the dataframe selection's cells, [(row, column name), ...] (the last one counts).
        count: faces on the page (a padding cell selects nothing).
        columns: the table's columns.
    """
    if not cells:
        return None
    row, column = cells[-1]
    try:
        position = int(row) * columns + int(column) - 1
    except (TypeError, ValueError):
        return None
    return position if 0 <= position < count and 0 < int(column) <= columns else None


def face_thumbnails(dataset, positions, cell=72, notes=None):
    """PNG data URIs of the faces at ``positions``, each with its label bar (and a note at the top)."""
    from fer_core.app.page_helpers import thumbnail_uri

    labels = dataset.labels[positions] if dataset.task == CLASSIFICATION else None
    return [thumbnail_uri(image, cell)
            for image in labelled_cells(dataset.images[positions], labels, dataset.label_names, cell, notes)]


# ---------------------------------------------------------------- FER2013's label noise

ALL_PAIRS = "every pair"


def pair_key(label, annotators):
    """'sad -> neutral': a class pair as the audit names it."""
    return f"{label} -> {annotators}"


def pair_text(key, counts):
    """How the class-pair picker shows a pair key: 'labelled sad, annotators say neutral (3,250)'.

    Arguments:
        key: ``pair_key(...)`` or ``ALL_PAIRS``.
        counts: {pair key: images} (from ``runs.inspection.noise_pairs``).
    """
    if key == ALL_PAIRS:
        return f"every pair that disagrees ({format_count(sum(counts.values()))})"
    label, annotators = key.split(" -> ")
    return f"labelled {label}, annotators say {annotators} ({format_count(counts.get(key, 0))})"


def majority_shares(rows):
    """The share of the votes that each label-noise row's majority (``annotators``) has."""
    return np.array([row[f"votes_{row['annotators']}"] for _, row in rows.iterrows()], float)


def noise_candidates(table, key=ALL_PAIRS):
    """The label-noise table's rows of one class pair (``pair_key``), or of every pair that disagrees
    by name (``ALL_PAIRS``): least supported labels first and, among equally supported ones, the
    clearest majorities first."""
    differs = table["label"].map(canonical_emotion) != table["annotators"].map(canonical_emotion)
    rows = table[differs]
    if key != ALL_PAIRS:
        label, annotators = key.split(" -> ")
        rows = rows[(rows["label"] == label) & (rows["annotators"] == annotators)]
    order = np.lexsort((-majority_shares(rows), rows["label_votes"].to_numpy())) if len(rows) else []
    return rows.iloc[order]


def majority_notes(rows):
    """'neutral 80%' per label-noise row: the annotators' majority and its share of the votes."""
    return [f"{annotators} {format_percent(share, 0)}" for annotators, share in
            zip(rows["annotators"], majority_shares(rows))]


def noise_display_table(rows):
    """The label-noise rows as shown: vote shares and the model's probability in percent."""
    shown = pd.DataFrame({"id": rows["id"], "split": rows["split"], "label": rows["label"],
                          "annotators": rows["annotators"],
                          "votes for the label": [format_percent(v) for v in rows["label_votes"]]})
    for column in [c for c in rows.columns if c.startswith("votes_")]:
        shown[column.removeprefix("votes_")] = [format_percent(v, 0) for v in rows[column]]
    if "model" in rows:
        shown["model"] = rows["model"].to_numpy()
        shown["model p(label)"] = [format_percent(v) for v in rows["model_label_p"]]
    return shown.reset_index(drop=True)
