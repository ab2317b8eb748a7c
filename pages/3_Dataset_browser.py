"""Dataset browser: a paged grid of faces (filtered, sorted by a model's hardness or mistakenness, a click
shows a face's details), label counts, the dataset's audit, FER2013's label noise against the FER+ votes,
and an embedding view of a model's features with a TensorBoard Projector download.

UI only: the figures and their formatting come from fer_core.app.dataset_views."""

import hashlib
from types import SimpleNamespace

import numpy as np
import streamlit as st

from fer_core.app import dataset_views as views
from fer_core.app.page_helpers import label_text, markdown_table, no_data_message, resolve_data_folder
from fer_core.app.resources import cached_dataset, cached_keras_model, use_app_navigation
from fer_core.config import CLASSIFICATION, data_dir
from fer_core.data import dataset_path, find_datasets
from fer_core.errors import DatasetError, FerStudioError
from fer_core.runs.catalog import model_catalog
from fer_core.runs.records import load_runs

use_app_navigation()  # a first visit by this page's URL: under app.py's navigation

FOLDER_CHOICE = "a folder under FER_DATA_DIR…"
ALL_SPLITS = "all splits"
NO_MODEL = "no model"
TABS = ("Samples", "Label distribution", "Audit", "Label noise (FER+)", "Embedding")
# Only the open tab runs, so the widgets of the others are not drawn: their values are carried over
# here, else Streamlit would forget them on a switch of tabs.
TAB_WIDGETS = ("label_filter", "sort_key", "per_page", "grid_page", "noise_pair", "embed_on", "embed_method",
               "embed_limit", "embed_disagree")
TAB_DEFAULTS = {"per_page": 60, "embed_limit": 250, "sort_key": views.DATASET_ORDER}
# What goes with one dataset: forgotten when another dataset is chosen.
DATASET_STATE = ("label_filter", "grid_page", "noise_pair")


# ---------------------------------------------------------------- cached work

@st.cache_data(show_spinner="Auditing the dataset: duplicates, leaks, blank images (FER2013: 15-30 s, once)…",
               max_entries=4)
def cached_audit(name):
    from fer_core.data.audit import audit_dataset

    votes, vote_names = fer_plus_votes(name)
    return audit_dataset(cached_dataset(name), votes, vote_names)


@st.cache_data(show_spinner="Finding exact copies and blank images…", max_entries=4)
def cached_duplicate_examples(name):
    return views.duplicate_examples(cached_dataset(name))


@st.cache_data(show_spinner="Finding near-duplicate pairs by perceptual hash (FER2013: about 20 s, once)…",
               max_entries=4)
def cached_near_duplicate_examples(name):
    return views.near_duplicate_examples(cached_dataset(name))


@st.cache_data(show_spinner=False, max_entries=8)
def cached_probabilities(name, split, model_path, modified):
    return views.model_probabilities(model_path, select_split(cached_dataset(name), split))


@st.cache_data(show_spinner="Computing features and the projection…", max_entries=8)
def cached_embedding(name, split, model_path, modified, limit, method):
    from fer_core.inference.embedding import embed_samples
    from fer_core.inference.runtime import read_info_file

    dataset = select_split(cached_dataset(name), split)
    names = (read_info_file(model_path) or {}).get("label_names")
    return embed_samples(cached_keras_model(model_path, modified), dataset, limit=limit, method=method,
                         label_names=names)


def fer_plus_votes(name):
    """(vote shares, vote names) of the FER+ annotators for fer2013's rows, or (None, None)."""
    if name != "fer2013" or dataset_path("ferplus") is None:
        return None, None
    ferplus = cached_dataset("ferplus")
    return ferplus.soft_labels, tuple(ferplus.label_names)


def select_split(dataset, split):
    return dataset if split == ALL_SPLITS else dataset.subset(split)


# ---------------------------------------------------------------- sidebar

def carry_tab_widgets():
    """Keeps the values of the widgets of tabs that are not open (see ``TAB_WIDGETS``)."""
    for key in TAB_WIDGETS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
    for key, value in TAB_DEFAULTS.items():
        st.session_state.setdefault(key, value)


def forget_other_datasets_state(name):
    """Another dataset than last time: its filter, page and class pair start afresh."""
    if st.session_state.get("shown_dataset") != name:
        for key in DATASET_STATE:
            st.session_state.pop(key, None)
        st.session_state["shown_dataset"] = name


def choose_dataset():
    """The dataset name picked in the sidebar, or None (with the reason shown)."""
    found = find_datasets()
    options = list(found) + [FOLDER_CHOICE]
    choice = st.sidebar.selectbox("Dataset", options, key="dataset_choice")
    if choice != FOLDER_CHOICE:
        return choice
    typed = st.sidebar.text_input("Folder (relative to FER_DATA_DIR, or absolute under it)",
                                  placeholder="ckplus48/CK+48", key="dataset_folder")
    if not typed:
        if not found:
            st.warning(no_data_message())
        else:
            st.info("Type a folder with one sub-folder per class (`<class>/*.png`) or per split "
                    "(`train/<class>/*.jpg`).")
        return None
    try:
        return "folder:" + str(resolve_data_folder(typed))
    except ValueError as exc:
        st.error(str(exc))
        return None


def choose_model(dataset):
    """The classifier picked in the sidebar (a ``catalog.ModelChoice``), or None."""
    if dataset.task != CLASSIFICATION:
        st.sidebar.caption("No model suits keypoint data here: model sort keys, label noise and the "
                           "embedding need a classifier of faces by expression.")
        return None
    choices = model_catalog("emotion", run_records=load_runs())
    labels = [NO_MODEL] + [choice.label for choice in choices]
    picked = st.sidebar.selectbox(
        "Model", labels, key="model_choice",
        help="A classifier (shipped, or a run record with its weights). It sorts the grid by hardness or "
             "mistakenness, adds its answers to the label noise, and gives the embedding its features. "
             "Its classes are matched to the dataset's by name (anger = angry, sadness = sad).")
    if picked == NO_MODEL:
        return None
    return choices[labels.index(picked) - 1]


# ---------------------------------------------------------------- shared pieces

def split_probabilities(view):
    """The chosen model's probabilities on the shown split and its class names (cached), or (None, None)."""
    if view.model is None:
        return None, None
    path = view.model.path
    with st.spinner(f"Running {view.model.name} on {views.format_count(len(view.dataset))} faces "
                    f"({view.split}; once per model and split)…"):
        try:
            return cached_probabilities(view.name, view.split, str(path), path.stat().st_mtime)
        except (FerStudioError, OSError, ValueError) as exc:
            st.error(f"Cannot run {view.model.name}: {exc}")
            return None, None


def face_grid(view, dataset, on_page, key, notes=None):
    """One page of faces as a table of thumbnails; a click on a face selects it.

    The selection is cleared whenever the faces on the page change (dataset, split, filter, sort,
    page), so the details below never describe a face that is no longer shown.

    Returns:
        the chosen face's position in ``dataset``, or None.
    """
    shows = f"{view.name}|{view.split}|{hashlib.md5(np.asarray(on_page, np.int64).tobytes()).hexdigest()}"
    if st.session_state.get(f"{key}_shows") != shows:
        st.session_state[key] = {"selection": {"rows": [], "columns": [], "cells": []}}
        st.session_state[f"{key}_shows"] = shows
    table = views.grid_table(views.face_thumbnails(dataset, on_page, cell=72, notes=notes))
    event = st.dataframe(table, key=key, on_select="rerun", selection_mode="single-cell", hide_index=True,
                         row_height=78, height=len(table) * 78 + 40, width="content",
                         column_config={column: st.column_config.ImageColumn(" ", width=78)
                                        for column in table.columns})
    picked = views.selected_cell(event.selection.cells, len(on_page))
    return None if picked is None else int(on_page[picked])


def show_details(view, dataset, index, key, probabilities=None, model_names=None, votes=None, facts=None):
    """One face: enlarged (keypoints drawn), its label, split and id, the FER+ votes and the model's answer.

    Arguments:
        view: the page's choices; dataset: the dataset ``index`` points into; key: unique per caller.
        probabilities: the model's probabilities for this face (model_names: their classes), or None.
        votes: the FER+ vote shares of this face, or None.
        facts: more {field: text} rows (e.g. the sort key's score).
    """
    from fer_core.app.charts import vote_figure
    from fer_core.app.page_helpers import draw_keypoints

    left, right = st.columns([1, 2])
    image = dataset.images[index]
    if dataset.keypoints is not None:
        left.image(draw_keypoints(image, dataset.keypoints[index]), caption="keypoints (green)")
    else:
        left.image(np.kron(image, np.ones((4, 4), np.uint8)), caption=str(dataset.ids[index]))
    rows = {"id": str(dataset.ids[index]), "split": str(dataset.splits[index]),
            "label": label_text([dataset.labels[index]], dataset.label_names)[0]}
    if votes is not None and np.sum(votes) > 0:
        top = int(np.argmax(votes))
        rows["FER+ annotators' majority"] = f"{view.vote_names[top]} ({views.format_percent(votes[top])} of the votes)"
    if probabilities is not None:
        top = int(np.argmax(probabilities))
        rows["model's answer"] = f"{model_names[top]} ({views.format_percent(probabilities[top])})"
    rows.update(facts or {})
    right.markdown(markdown_table([{"field": k, "value": v} for k, v in rows.items()]))
    if votes is not None and np.sum(votes) > 0:
        right.plotly_chart(vote_figure(votes, view.vote_names), key=f"votes_{key}")
    if probabilities is not None:
        right.plotly_chart(vote_figure(probabilities, model_names, title=f"{view.model.name}'s probabilities (%)"),
                           key=f"model_{key}")


def votes_of(view, index):
    """The FER+ votes of one face of the shown split, or None."""
    return None if view.votes is None else view.votes[index]


# ---------------------------------------------------------------- tabs

def samples_tab(view):
    from fer_core.data.sprites import page_count, page_indices

    dataset = view.dataset
    filter_column, sort_column, size_column, page_column = st.columns([3, 2, 2, 1])
    positions = np.arange(len(dataset))
    wanted = []
    if dataset.task == CLASSIFICATION:
        wanted = filter_column.multiselect("Labels (this grid only)", list(dataset.label_names), key="label_filter",
                                           placeholder="all labels")
        if wanted:
            positions = np.flatnonzero(np.isin(dataset.labels, [dataset.label_names.index(w) for w in wanted]))
    sort_key = sort_column.selectbox("Sort by", list(views.GRID_SORT_KEYS), key="sort_key",
                                     help="; ".join(f"**{k}**: {v}" for k, v in views.GRID_SORT_KEYS.items()),
                                     disabled=dataset.task != CLASSIFICATION)
    per_page = size_column.select_slider("Faces per page", [20, 40, 60, 100, 200], key="per_page")
    if not len(positions):
        st.info("No sample of this split has these labels.")
        return
    probabilities, model_names = split_probabilities(view)
    if sort_key != views.DATASET_ORDER and probabilities is None:
        st.info(f"Sorting by {sort_key} needs a model's answers: choose a model in the sidebar. "
                "Shown in the dataset's order.")
    in_model = views.model_labels(dataset, model_names) if probabilities is not None else None
    if in_model is not None and (in_model < 0).all():
        st.warning(f"None of this dataset's labels ({', '.join(dataset.label_names)}) is one of "
                   f"{view.model.name}'s classes: it cannot agree or disagree with them.")
    order = views.sorted_positions(positions, sort_key, probabilities, in_model)
    scores = views.grid_scores(sort_key, probabilities, in_model) if probabilities is not None else None
    pages = page_count(len(order), per_page)
    grid_view = (view.name, view.split, tuple(wanted), sort_key, view.model and str(view.model.path), per_page)
    if st.session_state.get("grid_view") != grid_view or st.session_state.get("grid_page", 1) > pages:
        st.session_state["grid_page"] = 1  # another filter, sort or page size: back to its first page
        st.session_state["grid_view"] = grid_view
    page = page_column.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key="grid_page") - 1
    on_page = order[page_indices(len(order), page, per_page)]
    notes = None
    if probabilities is not None:
        answers = probabilities[on_page].argmax(axis=1)
        notes = [f"{model_names[a]} {views.format_percent(p[a], 0)}" for a, p in zip(answers, probabilities[on_page])]
    st.caption(f"{len(on_page)} of {views.format_count(len(positions))} faces, page {page + 1} of "
               f"{views.format_count(pages)}, {'in the dataset order' if scores is None else 'sorted by ' + sort_key}"
               f"{'; at the top of each face, the model’s answer' if notes else ''}. Click a face for its details.")
    chosen = face_grid(view, dataset, on_page, "face_grid", notes)
    st.subheader("Sample details")
    if chosen is None:
        st.caption("Click a face in the grid to see its details here.")
    else:
        facts = {sort_key: views.format_percent(scores[chosen])} if scores is not None else {}
        show_details(view, dataset, chosen, "grid", None if probabilities is None else probabilities[chosen],
                     model_names, votes_of(view, chosen), facts)
    if probabilities is not None:
        with st.expander(f"{view.model.name} per class on {view.split}"):
            st.markdown(markdown_table(views.per_class_rows(dataset, probabilities, model_names)))
            st.caption(views.out_of_sample_note(view.model.dataset, view.split, view.full))


def distribution_tab(view):
    from fer_core.app.charts import label_distribution_figure

    dataset = view.dataset
    if dataset.task != CLASSIFICATION:
        missing = int(np.isnan(dataset.keypoints).any(axis=(1, 2)).sum()) if dataset.keypoints is not None else 0
        st.write(f"{views.format_count(len(dataset))} faces with 15 keypoints; {views.format_count(missing)} "
                 "with some keypoint missing.")
        return
    counts = np.bincount(dataset.labels[dataset.labels >= 0], minlength=len(dataset.label_names))
    st.plotly_chart(label_distribution_figure(dict(zip(dataset.label_names, counts.tolist())),
                                              title=f"Samples per label ({view.split})"), key="label_distribution")
    unlabelled = int((dataset.labels < 0).sum())
    if unlabelled:
        st.caption(f"{views.format_count(unlabelled)} samples without a usable label (FER+ unknown / not a face).")
    st.markdown("**Samples per class and split**")
    st.markdown(markdown_table(views.split_count_rows(views.class_counts_by_split(view.full))))


def audit_tab(view):
    st.caption("The audit covers every split of the dataset (the Split choice does not apply): exact copies "
               "(identical pixels), test images copied from training, near duplicates, blank images"
               + (", and the FER+ annotators' disagreement with the labels." if view.name == "fer2013" else "."))
    report = cached_audit(view.name)
    st.markdown(markdown_table(views.audit_rows(report)))
    with st.expander("Samples per class and split"):
        st.markdown(markdown_table(views.split_count_rows(report["per_split"])))
    pairs = views.label_noise_pair_rows(report)
    if pairs:
        st.markdown("**Most frequent disagreements** (FER2013's label -> the FER+ majority; see **Label noise**)")
        st.markdown(markdown_table(pairs))
    examples = cached_duplicate_examples(view.name)
    near = report["near_duplicate_pairs"]
    kinds = (
        ("conflicting_labels", "Duplicate groups whose labels disagree", report["conflicting_label_groups"]),
        ("test_copies", "Test images with a training copy", sum(report["test_rows_with_training_copy"].values())),
        ("blank", "Blank images", report["blank_images"]),
        ("near_duplicates", "Near-duplicate pairs (across splits first)", near["within_split"] + near["across_splits"]),
    )
    for kind, title, total in kinds:
        st.markdown(f"**{title}** ({views.format_count(total)})")
        groups = examples.get(kind) if kind in examples else cached_near_duplicate_examples(view.name)
        sheet, lines = views.example_sheet(view.full, groups)
        if sheet is None:
            st.caption("None.")
            continue
        st.image(sheet, output_format="PNG",
                 caption=f"{len(groups)} of {views.format_count(total)}, numbered; above each face its split, "
                         "on its bar its label")
        with st.expander("Which images these are"):
            st.markdown("\n".join(f"- {line}" for line in lines))


def label_noise_tab(view):
    from fer_core.runs.inspection import label_noise_table, noise_pairs
    from fer_core.app.page_helpers import indices_of_ids

    if view.name != "fer2013":
        st.info("FER+ is FER2013's images labelled again by ten annotators each. Choose the **fer2013** dataset "
                "to set its labels against their votes.")
        return
    if view.votes is None:
        st.info("The FER+ votes are not found: put `fer2013new.csv` in `FER_DATA_DIR/ferplus/`.")
        return
    dataset = view.dataset
    probabilities, model_names = split_probabilities(view)
    in_dataset_order = None if probabilities is None else views.probabilities_in_dataset_order(
        probabilities, model_names, dataset.label_names)
    table = label_noise_table(dataset, view.votes, view.vote_names, in_dataset_order)
    pairs = noise_pairs(table)
    differs = int(pairs["count"].sum())
    st.markdown(f"On {view.split}, the FER+ annotators' majority does not share "
                f"{views.share_text(differs, len(table))} of FER2013's labels. Candidates are ranked by the share "
                "of the votes for the image's own label, lowest first.")
    if probabilities is not None:
        st.caption(views.out_of_sample_note(view.model.dataset, view.split, view.full))
    else:
        st.caption("Choose a model in the sidebar to add its answers.")
    counts = {views.pair_key(label, annotators): int(n) for label, annotators, n in pairs.itertuples(index=False)}
    pair = st.selectbox("Class pair", [views.ALL_PAIRS] + list(counts), key="noise_pair",
                        format_func=lambda key: views.pair_text(key, counts))
    with st.expander("Images per class pair"):
        st.markdown(markdown_table([{"labelled": label, "annotators say": annotators, "images": views.format_count(n)}
                                    for label, annotators, n in pairs.itertuples(index=False)]))
    candidates = views.noise_candidates(table, pair)
    if not len(candidates):
        st.info("No image of this split is in this class pair.")
        return
    top = candidates.head(40)
    positions = indices_of_ids(dataset.ids, top["id"].tolist())
    notes = views.majority_notes(top)
    st.caption(f"The {len(top)} least supported of {views.format_count(len(candidates))}: on each face's bar its "
               "FER2013 label, above it the annotators' majority and its share of the votes. Click a face for its "
               "details.")
    chosen = face_grid(view, dataset, positions, "noise_grid", notes)
    if chosen is not None:
        show_details(view, dataset, chosen, "noise", None if probabilities is None else probabilities[chosen],
                     model_names, votes_of(view, chosen))
    st.dataframe(views.noise_display_table(candidates.head(500)), hide_index=True, key="noise_table")


def embedding_tab(view):
    from fer_core.app.charts import embedding_figure
    from fer_core.app.page_helpers import embedding_hover_texts, thumbnail_uri, thumbnails_html
    from fer_core.data.projector import projector_bundle, sprite_layout
    from fer_core.inference.embedding import projection_methods

    if view.dataset.task != CLASSIFICATION:
        st.info("The embedding view takes a classifier's features; no model here suits keypoint data.")
        return
    if view.model is None:
        st.info("Choose a model in the sidebar: its `features` layer (the one before its output) gives the "
                "embedding. Train a run (see **Training runs**) or ship one in `assets/models/` if there is none.")
        return
    if not st.toggle("Compute an embedding (runs the model on a sample of this split)", key="embed_on"):
        return
    dataset = view.dataset
    left, right = st.columns(2)
    method = left.radio("Projection", projection_methods(), horizontal=True, key="embed_method")
    limit = right.select_slider("Samples", [100, 250, 500, 1000, 2000], key="embed_limit")
    path = view.model.path
    try:
        result = cached_embedding(view.name, view.split, str(path), path.stat().st_mtime, limit, method)
    except Exception as exc:  # a model without a features layer, or a damaged file
        st.error(f"Cannot embed with {view.model.name}: {exc}")
        return
    images = dataset.images[result.indices]
    labels = label_text(dataset.labels[result.indices], dataset.label_names)
    predicted = None if result.predictions is None else np.array(result.prediction_names)[result.predictions]
    ids = dataset.ids[result.indices]
    only_wrong = st.checkbox(f"Only where the model disagrees with the label ({int(result.disagree.sum())}; "
                             "compared by name)", key="embed_disagree", disabled=predicted is None)
    keep = np.flatnonzero(result.disagree) if only_wrong else np.arange(len(result.indices))
    hover = embedding_hover_texts(ids, labels, predicted)
    thumbs = [thumbnail_uri(images[i], 48) for i in range(len(ids))]
    figure = embedding_figure(result.coords[keep], labels[keep], dataset.label_names, [thumbs[i] for i in keep],
                              [hover[i] for i in keep], result.disagree[keep],
                              title=f"{method.upper()} of {view.model.name} features ({len(keep)} faces; "
                                    "x = model disagrees)")
    shows = f"{view.name}|{view.split}|{path}|{method}|{limit}|{only_wrong}"
    key = "embedding_" + hashlib.md5(shows.encode()).hexdigest()[:10]  # a new chart, no stale selection
    event = st.plotly_chart(figure, on_select="rerun", selection_mode=("points", "box", "lasso"), key=key)
    chosen = [int(p["customdata"][1]) for p in (event.selection.points if event else []) if p.get("customdata")]
    if chosen:
        st.write(f"{views.format_count(len(chosen))} selected faces{', the first 60:' if len(chosen) > 60 else ':'}")
        shown = [keep[i] for i in chosen[:60]]
        st.markdown(thumbnails_html([thumbs[i] for i in shown], [ids[i] for i in shown]), unsafe_allow_html=True)
        first = keep[chosen[0]]
        index = int(result.indices[first])
        show_details(view, dataset, index, "embedding",
                     None if predicted is None else result.outputs[first], result.prediction_names,
                     votes_of(view, index))
    else:
        st.caption("Select points (click, box or lasso) to see their faces and details.")
    metadata = {"label": labels, "split": dataset.splits[result.indices], "id": ids}
    if predicted is not None:
        metadata["prediction"] = predicted
    kept, side, _ = sprite_layout(len(ids), 48)
    st.download_button(f"Download the TensorBoard Projector bundle (zip: {views.format_count(kept)} points, "
                       f"{side} px thumbnails)",
                       data=projector_bundle(result.features, images, metadata),
                       file_name=f"projector-{view.name.replace(':', '_').replace('/', '_')}.zip",
                       mime="application/zip", key="projector_zip")


# ---------------------------------------------------------------- the page

st.title("Dataset browser")
carry_tab_widgets()
name = choose_dataset()
if name is None:
    st.stop()
try:
    full = cached_dataset(name)
except DatasetError as exc:
    st.error(str(exc))
    st.stop()
forget_other_datasets_state(name)
split = st.sidebar.selectbox("Split", [ALL_SPLITS] + list(full.split_names), key="split")
dataset = select_split(full, split)
model = choose_model(full)
votes, vote_names = fer_plus_votes(name) if name == "fer2013" else (full.soft_labels, tuple(full.label_names))
if votes is not None and split != ALL_SPLITS:
    votes = votes[np.asarray(full.splits) == split]
view = SimpleNamespace(name=name, split=split, full=full, dataset=dataset, model=model, votes=votes,
                       vote_names=vote_names)
st.caption(f"`{full.name}` from `{full.source}` ({full.task}; {views.format_count(len(full))} samples, images "
           f"{full.image_size[0]}x{full.image_size[1]}); FER_DATA_DIR = `{data_dir()}`. The split and the model "
           "in the sidebar apply to every tab but Audit.")

tabs = st.tabs(TABS, key="browser_tab", on_change="rerun")
for tab, show in zip(tabs, (samples_tab, distribution_tab, audit_tab, label_noise_tab, embedding_tab)):
    if tab.open:
        with tab:
            show(view)
