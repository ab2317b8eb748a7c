"""FER Studio: the dashboard's entry point (``streamlit run app.py``).

Navigation over the home page (below) and the numbered pages in ``pages/``, grouped in the
sections of ``fer_core.app.page_helpers.PAGE_SECTIONS`` ("Use a model", "Data", "Training").
The home page only reads files (model cards, run records, the data folder) and
shows them as markdown (no table widgets, whose browser code loads lazily); it
imports no TensorFlow, so the first page is served quickly.
"""

from pathlib import Path

import streamlit as st

from fer_core.app.page_helpers import PAGE_SECTIONS

HERE = Path(__file__).resolve().parent


def home():
    from fer_core.config import data_dir, models_dir, run_roots
    from fer_core.data import find_datasets
    from fer_core.runs.records import find_runs, shipped_models
    from fer_core.app.page_helpers import format_bytes, format_score, markdown_table, no_data_message, no_models_message

    st.title("FER Studio")
    st.markdown(
        "Facial **expression recognition** and facial **keypoints**, offline: browse the classic datasets, "
        "train the classic networks with resumable run records, compare runs, and run the models on photos "
        "and a live webcam. Everything is computed by the `fer_core` package; this dashboard shows it.")

    st.subheader("Models")
    models = shipped_models()
    if models:
        rows = [{"model": m["name"], "dataset": m["card"].get("dataset", "?"),
                 "task": m["card"].get("task", "?"),
                 "test accuracy": format_score(m.get("accuracy"), percent=True),
                 "test RMSE (px)": format_score(m.get("rmse")),
                 "size": format_bytes(m["size_bytes"]),
                 "TFLite": format_bytes(m["tflite"].stat().st_size) if m["tflite"] else "—"} for m in models]
        st.markdown(markdown_table(rows))
        for model in models:
            if model["card_markdown"] is not None:
                with st.expander(f"Model card: {model['name']}"):
                    st.markdown(model["card_markdown"].read_text(encoding="utf-8"))
    else:
        st.info(no_models_message(models_dir()))

    st.subheader("Datasets")
    root = data_dir()
    found = find_datasets(root)
    if found:
        st.caption(f"Found under `FER_DATA_DIR` = `{root}`")
        st.markdown(markdown_table([{"dataset": name, "path": f"`{path}`"} for name, path in found.items()]))
    else:
        st.warning(no_data_message(root))

    st.subheader("Training runs")
    runs = find_runs()
    st.write(f"{len(runs)} run record(s) under " + ", ".join(f"`{r}`" for r in run_roots()) + ".")

    st.subheader("Pages")
    for section, pages in page_sections().items():
        st.markdown(f"**{section}**")
        for page, description in pages:
            st.page_link(page, label=f"{page.title}: {description}", icon=page.icon)


def page_sections():
    """{section: [(st.Page, description)]} of the pages whose files exist, in PAGE_SECTIONS' order."""
    sections = {}
    for section, pages in PAGE_SECTIONS:
        found = [(st.Page(path, title=title, icon=icon), description)
                 for path, title, icon, description in pages if (HERE / path).is_file()]
        if found:
            sections[section] = found
    return sections


st.set_page_config(page_title="FER Studio", page_icon="🙂", layout="wide")
home_page = st.Page(home, title="Home", icon=":material/home:", default=True)
navigation = st.navigation({"": [home_page], **{section: [page for page, _ in pages]
                                                for section, pages in page_sections().items()}})
navigation.run()
