"""Dataset browser: a paged, labelled grid of samples, label counts, a sample's details, and an
embedding view of a model's features with a TensorBoard Projector download."""

import numpy as np
import streamlit as st

from fer_core.config import data_dir
from fer_core.app.resources import cached_dataset, cached_keras_model, use_app_navigation
from fer_core.data import find_datasets
from fer_core.errors import DatasetError
from fer_core.runs.records import load_runs, shipped_models
from fer_core.app.page_helpers import label_text, model_choices, no_data_message, resolve_data_folder

use_app_navigation()  # a first visit by this page's URL: under app.py's navigation

FOLDER_CHOICE = "a folder under FER_DATA_DIR…"
ALL_SPLITS = "all splits"


@st.cache_data(show_spinner="Computing features and the projection…", max_entries=8)
def cached_embedding(name, split, model_path, modified, limit, method):
    from fer_core.inference.embedding import embed_samples

    dataset = select_split(cached_dataset(name), split)
    result = embed_samples(cached_keras_model(model_path, modified), dataset, limit=limit, method=method)
    return result


def select_split(dataset, split):
    return dataset if split == ALL_SPLITS else dataset.subset(split)


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


def show_details(dataset, index, prediction=None):
    """One sample: enlarged face (keypoints drawn), its label, split, id, and FER+ votes."""
    from fer_core.app.charts import vote_figure
    from fer_core.app.page_helpers import draw_keypoints

    left, right = st.columns([1, 2])
    image = dataset.images[index]
    if dataset.keypoints is not None:
        left.image(draw_keypoints(image, dataset.keypoints[index]), caption="keypoints (green)")
    else:
        left.image(np.kron(image, np.ones((4, 4), np.uint8)), caption=str(dataset.ids[index]))
    facts = {"id": str(dataset.ids[index]), "split": str(dataset.splits[index]),
             "label": label_text([dataset.labels[index]], dataset.label_names)[0]}
    if prediction is not None:
        facts["model prediction"] = prediction
    right.table([{"field": k, "value": v} for k, v in facts.items()])
    if dataset.soft_labels is not None:
        right.plotly_chart(vote_figure(dataset.soft_labels[index], dataset.label_names), key=f"votes_{index}")


def show_grid(dataset, positions):
    from fer_core.data.sprites import page_count, sprite_page

    per_page = st.sidebar.select_slider("Faces per page", [20, 40, 60, 100, 200], value=60, key="per_page")
    pages = page_count(len(positions), per_page)
    page = st.columns([1, 3])[0].number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, step=1,
                                              key="grid_page") - 1
    sheet, cells = sprite_page(dataset, positions, page=page, per_page=per_page, columns=10, cell=72)
    st.image(sheet, output_format="PNG", caption=f"{len(cells)} of {len(positions)} faces, page {page + 1} of {pages}")
    if not cells:
        return
    labels = [f"{c['cell'] + 1}: {c['id']} ({c['label']})" for c in cells]
    picked = st.selectbox("Sample details (cells numbered row by row)", range(len(cells)),
                          format_func=lambda i: labels[i], key="picked_cell")
    show_details(dataset, cells[picked]["index"])


def show_distribution(dataset):
    from fer_core.app.charts import label_distribution_figure

    if dataset.task == "keypoints":
        missing = int(np.isnan(dataset.keypoints).any(axis=(1, 2)).sum()) if dataset.keypoints is not None else 0
        st.write(f"{len(dataset)} faces with 15 keypoints; {missing} with some keypoint missing.")
        return
    counts = np.bincount(dataset.labels[dataset.labels >= 0], minlength=len(dataset.label_names))
    st.plotly_chart(label_distribution_figure(dict(zip(dataset.label_names, counts.tolist()))),
                    key="label_distribution")
    unlabelled = int((dataset.labels < 0).sum())
    if unlabelled:
        st.caption(f"{unlabelled} samples without a usable label (FER+ unknown / not a face).")


def show_embedding(name, split, dataset):
    from fer_core.app.charts import embedding_figure
    from fer_core.inference.embedding import projection_methods
    from fer_core.data.projector import projector_bundle
    from fer_core.app.page_helpers import embedding_hover_texts, thumbnail_uri, thumbnails_html

    choices = model_choices(load_runs(), shipped_models())
    if not choices:
        st.info("No model to take features from: train a run (see **Training runs**) or ship one in "
                "`assets/models/`.")
        return
    a, b, c = st.columns(3)
    model_label = a.selectbox("Model (its `features` layer)", list(choices), key="embed_model")
    method = b.radio("Projection", projection_methods(), horizontal=True, key="embed_method")
    limit = c.select_slider("Samples", [100, 250, 500, 1000, 2000], value=250, key="embed_limit")
    path = choices[model_label]
    try:
        result = cached_embedding(name, split, str(path), path.stat().st_mtime, limit, method)
    except Exception as exc:  # a model of another task or input shape, or a damaged file
        st.error(f"Cannot embed with {model_label}: {exc}")
        return
    images = dataset.images[result.indices]
    labels = label_text(dataset.labels[result.indices], dataset.label_names)
    predicted = label_text(result.predictions, dataset.label_names) if result.predictions is not None else None
    ids = dataset.ids[result.indices]
    only_wrong = st.checkbox(f"Only where the model disagrees with the label ({int(result.disagree.sum())})",
                             key="embed_disagree", disabled=predicted is None)
    keep = np.flatnonzero(result.disagree) if only_wrong else np.arange(len(result.indices))
    hover = embedding_hover_texts(ids, labels, predicted)
    thumbs = [thumbnail_uri(images[i], 48) for i in range(len(ids))]
    figure = embedding_figure(result.coords[keep], labels[keep], dataset.label_names, [thumbs[i] for i in keep],
                              [hover[i] for i in keep], result.disagree[keep],
                              title=f"{method.upper()} of {model_label} features ({len(keep)} faces; "
                                    "x = model disagrees)")
    event = st.plotly_chart(figure, on_select="rerun", selection_mode=("points", "box", "lasso"), key="embedding")
    chosen = [int(p["customdata"][1]) for p in (event.selection.points if event else []) if p.get("customdata")]
    if chosen:
        st.write(f"{len(chosen)} selected faces:")
        shown = [keep[i] for i in chosen[:60]]
        st.markdown(thumbnails_html([thumbs[i] for i in shown], [ids[i] for i in shown]), unsafe_allow_html=True)
        first = keep[chosen[0]]
        show_details(dataset, int(result.indices[first]), predicted[first] if predicted is not None else None)
    else:
        st.caption("Select points (click, box or lasso) to see their faces and details.")
    metadata = {"label": labels, "split": dataset.splits[result.indices], "id": ids}
    if predicted is not None:
        metadata["prediction"] = predicted
    st.download_button("Download the TensorBoard Projector bundle (zip)",
                       data=projector_bundle(result.features, images, metadata),
                       file_name=f"projector-{name.replace(':', '_').replace('/', '_')}.zip",
                       mime="application/zip", key="projector_zip")


st.title("Dataset browser")
name = choose_dataset()
if name is None:
    st.stop()
try:
    full = cached_dataset(name)
except DatasetError as exc:
    st.error(str(exc))
    st.stop()
split = st.sidebar.selectbox("Split", [ALL_SPLITS] + list(full.split_names), key="split")
dataset = select_split(full, split)
st.caption(f"`{full.name}` from `{full.source}` ({full.task}; {len(full)} samples, images "
           f"{full.image_size[0]}x{full.image_size[1]}); FER_DATA_DIR = `{data_dir()}`")

positions = np.arange(len(dataset))
if dataset.task != "keypoints":
    wanted = st.sidebar.multiselect("Labels", list(dataset.label_names), key="label_filter",
                                    placeholder="all labels")
    if wanted:
        codes = [dataset.label_names.index(w) for w in wanted]
        positions = np.flatnonzero(np.isin(dataset.labels, codes))

grid_tab, counts_tab, embedding_tab = st.tabs(["Samples", "Label distribution", "Embedding"])
with grid_tab:
    if len(positions):
        show_grid(dataset, positions)
    else:
        st.info("No sample matches this split and label filter.")
with counts_tab:
    show_distribution(dataset)
with embedding_tab:
    if st.toggle("Compute an embedding (runs a model on a sample of this split)", key="embed_on"):
        show_embedding(name, split, dataset)
