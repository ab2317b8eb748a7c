"""fer_core.inference.embedding, fer_core.data.projector and fer_core.data.sprites on fixed inputs (golden checks),
and features from a real trained model."""

import io
import zipfile

import cv2
import numpy as np
import pytest

from fer_core.data import Dataset
from fer_core.inference.embedding import (
    disagreements, label_mapping, labels_for_model, project, projection_methods, sample_indices,
)
from fer_core.data.projector import (
    MAX_POINTS, MAX_SPRITE_SIDE, metadata_tsv, projector_bundle, projector_config, sprite_layout, sprite_sheet, tensors_tsv,
)
from fer_core.data.sprites import page_count, page_indices, sprite_grid, sprite_page
from fer_core.app.page_helpers import indices_of_ids, label_text, markdown_table, resolve_data_folder


def ramp_images(count, side=48):
    """Image i is filled with the value i % 256."""
    return (np.arange(count, dtype=np.uint16)[:, None, None] % 256 * np.ones((1, side, side))).astype(np.uint8)


def unzip(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


# --- embedding ---------------------------------------------------------------------------------

def test_pca_projection_golden():
    features = np.array([[0, 0, 0], [2, 0, 0], [0, 1, 0], [2, 1, 0]], float)
    coords = project(features, "pca")
    assert coords.shape == (4, 2) and coords.dtype == np.float32
    # The first component is the x axis (variance 1), the second the y axis (variance 0.25).
    np.testing.assert_allclose(np.abs(coords), [[1, 0.5]] * 4, atol=1e-5)
    assert coords[0, 0] * coords[1, 0] < 0


def test_tsne_separates_two_clusters():
    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal(0, 0.1, (30, 8)), rng.normal(5, 0.1, (30, 8))])
    coords = project(features, "tsne", seed=0)
    assert coords.shape == (60, 2)
    a, b = coords[:30].mean(axis=0), coords[30:].mean(axis=0)
    spread = max(coords[:30].std(axis=0).max(), coords[30:].std(axis=0).max())
    assert np.linalg.norm(a - b) > 3 * spread


def test_projection_edge_cases():
    assert project(np.zeros((0, 5))).shape == (0, 2)
    assert project(np.array([[1.0, 2.0, 3.0]])).tolist() == [[1.0, 2.0]]
    with pytest.raises(ValueError, match="unknown projection"):
        project(np.random.default_rng(0).normal(size=(10, 4)), "nope")
    assert projection_methods()[:2] == ["pca", "tsne"]


def test_disagreements_and_sampling():
    labels = np.array([0, 1, 2, -1, 1])
    assert disagreements(labels, np.array([0, 2, 2, 0, 1])).tolist() == [False, True, False, False, False]
    outputs = np.eye(3)[[1, 1, 2, 0, 0]]
    assert disagreements(labels, outputs).tolist() == [True, False, False, False, True]
    assert sample_indices(5, 0).tolist() == [0, 1, 2, 3, 4]
    picked = sample_indices(1000, 10, seed=3)
    assert len(picked) == 10 and (np.diff(picked) > 0).all()
    assert picked.tolist() == sample_indices(1000, 10, seed=3).tolist()


CKPLUS_NAMES = ("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")
FER2013_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def test_labels_are_mapped_to_a_models_classes_by_name():
    assert label_mapping(CKPLUS_NAMES, FER2013_NAMES).tolist() == [0, -1, 1, 2, 3, 4, 5]
    assert label_mapping(("anger", "happiness"), FER2013_NAMES).tolist() == [0, 3]  # FER+'s names
    labels = np.array([4, 0, 1, 5, -1])  # happy, anger, contempt, sadness, none
    assert labels_for_model(labels, CKPLUS_NAMES, FER2013_NAMES).tolist() == [3, 0, -1, 4, -1]
    assert labels_for_model(labels, CKPLUS_NAMES, CKPLUS_NAMES).tolist() == labels.tolist()


def test_happy_ckplus_faces_that_the_fer2013_model_calls_happy_do_not_disagree(data_root):
    """The embedding view once compared class positions across label sets: with the FER2013 model on
    CK+48 it marked 234 of 250 faces "disagrees" and called CK+'s happy faces "fear" (FER2013's index 4)."""
    from fer_core.data import load_dataset
    from fer_core.inference.embedding import embed_samples
    from fer_core.inference.runtime import load_keras_model, read_info_file
    from fer_core.config import PROJECT_ROOT

    path = PROJECT_ROOT / "assets" / "models" / "emotion.keras"
    names = tuple(read_info_file(path)["label_names"])
    ckplus = load_dataset("ckplus48")
    assert tuple(ckplus.label_names) == CKPLUS_NAMES and names == FER2013_NAMES
    faces = ckplus.select(np.flatnonzero(np.isin(ckplus.labels, [4, 1]))[::4])  # happy and contempt faces
    result = embed_samples(load_keras_model(path), faces, limit=0, method="pca", label_names=names)
    predicted = np.array(result.prediction_names)[result.predictions]
    happy = faces.labels[result.indices] == 4
    assert result.prediction_names == names and happy.sum() >= 40
    assert (predicted[happy] == "happy").mean() > 0.9             # the model does see them as happy
    assert not result.disagree[happy & (predicted == "happy")].any()
    assert result.disagree[happy].tolist() == (predicted[happy] != "happy").tolist()
    assert not result.disagree[~happy].any()                       # contempt: a class the model does not know
    assert (result.predictions[happy] != 4).mean() > 0.9           # the old comparison by position: "disagrees"


def test_features_of_a_trained_model(trained_run, fer2013):
    from fer_core.inference.embedding import embed_samples, extract_features
    from fer_core.inference.runtime import load_keras_model

    model = load_keras_model(trained_run / "model.keras")
    test = fer2013.subset("test")
    features, outputs = extract_features(model, test.images[:5])
    assert features.shape == (5, model.get_layer("features").output.shape[-1]) and outputs.shape == (5, 7)
    np.testing.assert_allclose(outputs.sum(axis=1), 1, atol=1e-4)
    result = embed_samples(model, test, limit=40, method="pca", seed=1)
    assert result.coords.shape == (40, 2) and len(result.indices) == 40
    assert result.disagree.tolist() == (result.predictions != test.labels[result.indices]).tolist()
    assert result.prediction_names == test.label_names  # default: the dataset's names
    with pytest.raises(ValueError, match="no layer named"):
        extract_features(model, test.images[:2], layer_name="nope")


# --- projector ---------------------------------------------------------------------------------

def test_sprite_layout_stays_within_tensorboards_limits():
    assert (MAX_SPRITE_SIDE, MAX_POINTS) == (8192, 100_000)
    assert sprite_layout(100, 48) == (100, 48, 10)
    assert sprite_layout(28_900, 48) == (28_900, 48, 170)        # the most that fit at the 48 px wanted
    assert sprite_layout(28_901, 48) == (28_901, 47, 171)        # one more: thumbnails shrink
    assert sprite_layout(40_000, 48) == (40_000, 40, 200)
    assert sprite_layout(100_000, 48) == (100_000, 25, 317)
    assert sprite_layout(2_000_000, 48) == (100_000, 25, 317)    # points capped, then sized
    for count in (1, 5, 171, 172, 30_000, 99_999, 100_001, 2_000_000):
        kept, thumb, columns = sprite_layout(count, 48)
        assert kept == min(count, MAX_POINTS) and kept <= columns * columns
        assert columns * thumb <= MAX_SPRITE_SIDE and (columns - 1) ** 2 < kept  # no empty row of cells
        assert thumb == min(48, MAX_SPRITE_SIDE // columns)                       # the largest that fits


def test_projector_bundle_caps_the_points_and_sizes_thumbnails_from_them():
    count = 130
    files = unzip(projector_bundle(np.ones((count, 2)), ramp_images(count, 48), {"id": range(count)}, thumb=48,
                                   max_points=100))  # 100 points: 10 x 10 cells of 48 px, within 8192
    assert len(files["tensors.tsv"].decode().splitlines()) == 100
    assert files["metadata.tsv"].decode().splitlines()[-1] == "99"
    sprite = cv2.imdecode(np.frombuffer(files["sprite.png"], np.uint8), cv2.IMREAD_UNCHANGED)
    assert sprite.shape == (480, 480) and sprite[470, 470] == 99
    assert "tensor_shape: 100\n" in files["projector_config.pbtxt"].decode()
    files = unzip(projector_bundle(np.ones((count, 2)), ramp_images(count, 48), {"id": range(count)}, thumb=48,
                                   max_side=240))  # ceil(sqrt(130)) = 12 columns: 240 // 12 = 20 px thumbnails
    sprite = cv2.imdecode(np.frombuffer(files["sprite.png"], np.uint8), cv2.IMREAD_UNCHANGED)
    assert sprite.shape == (240, 240) and "single_image_dim: 20" in files["projector_config.pbtxt"].decode()
    assert len(files["tensors.tsv"].decode().splitlines()) == count


def test_sprite_sheet_golden():
    sprite, thumb, kept = sprite_sheet(ramp_images(5, 10), thumb=4)
    assert sprite.shape == (12, 12) and thumb == 4 and kept == 5  # 3x3 grid of 4-px cells
    assert sprite[0, 0] == 0 and sprite[0, 4] == 1 and sprite[0, 8] == 2 and sprite[4, 0] == 3 and sprite[4, 4] == 4
    assert sprite[4, 8] == 0 and sprite[8:, :].max() == 0  # empty cells are black
    big, thumb, kept = sprite_sheet(ramp_images(300, 48), thumb=48, max_side=512)
    assert max(big.shape) <= 512 and thumb == 512 // 18 and kept == 300


def test_metadata_tsv_has_a_header():
    text = metadata_tsv({"label": ["happy", "sad"], "split": ["Training", "PublicTest"], "id": ["f:0", "f\t1"],
                         "prediction": ["happy", "happy"]})
    assert text == "label\tsplit\tid\tprediction\nhappy\tTraining\tf:0\thappy\nsad\tPublicTest\tf 1\thappy\n"
    with pytest.raises(ValueError, match="differ in length"):
        metadata_tsv({"a": [1], "b": [1, 2]})


def test_tensors_tsv_and_pbtxt_golden():
    assert tensors_tsv(np.array([[1.0, 0.5], [-2.0, 1e-7]])) == "1\t0.5\n-2\t1e-07\n"
    pbtxt = projector_config(10, 64, 32)
    assert 'tensor_path: "tensors.tsv"' in pbtxt and 'metadata_path: "metadata.tsv"' in pbtxt
    assert 'image_path: "sprite.png"' in pbtxt and pbtxt.count("single_image_dim: 32") == 2
    assert "tensor_shape: 10\n  tensor_shape: 64" in pbtxt
    assert pbtxt.startswith("embeddings {") and pbtxt.count("{") == pbtxt.count("}")


def test_projector_bundle_contents():
    features = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32)
    files = unzip(projector_bundle(features, ramp_images(7), {"label": list("abcdefg"), "id": range(7)}, thumb=16))
    assert set(files) == {"tensors.tsv", "metadata.tsv", "sprite.png", "projector_config.pbtxt"}
    rows = [line.split("\t") for line in files["tensors.tsv"].decode().splitlines()]
    assert len(rows) == 7 and {len(r) for r in rows} == {3}
    np.testing.assert_allclose(np.array(rows, float), features, rtol=1e-5)
    metadata = files["metadata.tsv"].decode().splitlines()
    assert metadata[0] == "label\tid" and metadata[1:3] == ["a\t0", "b\t1"] and len(metadata) == 8
    sprite = cv2.imdecode(np.frombuffer(files["sprite.png"], np.uint8), cv2.IMREAD_UNCHANGED)
    assert sprite.shape == (48, 48) and sprite[0, 16] == 1
    assert "single_image_dim: 16" in files["projector_config.pbtxt"].decode()


def test_projector_bundle_keeps_files_consistent_when_points_are_dropped():
    count = 40
    files = unzip(projector_bundle(np.ones((count, 2)), ramp_images(count, 8), {"id": range(count)}, thumb=8,
                                   max_side=40))  # 5 x 5 cells of the minimum 8 px: 25 points kept
    assert len(files["tensors.tsv"].decode().splitlines()) == 25
    assert len(files["metadata.tsv"].decode().splitlines()) == 26
    assert "tensor_shape: 25" in files["projector_config.pbtxt"].decode()


# --- sprites and ui ----------------------------------------------------------------------------

def toy_dataset(count=25):
    return Dataset(name="toy", task="classification", images=ramp_images(count), labels=np.arange(count) % 3 - 1,
                   label_names=("x", "y"), splits=np.array(["train"] * count), split_names=("train",),
                   ids=np.array([f"toy:{i}" for i in range(count)]))


def test_paging():
    assert page_count(0, 10) == 1 and page_count(25, 10) == 3
    assert page_indices(25, 2, 10).tolist() == [20, 21, 22, 23, 24]
    assert page_indices(25, 9, 10).tolist() == [20, 21, 22, 23, 24]  # clamped


def test_sprite_grid_golden():
    sheet, cells = sprite_grid(ramp_images(3, 8), labels=np.array([0, 1, -1]), label_names=("x", "y"), columns=2,
                               cell=16, gap=2)
    assert sheet.shape == (2 * 18 + 2, 2 * 18 + 2, 3)
    assert cells[2] == {"cell": 2, "row": 1, "col": 0}
    assert sheet[2, 2].tolist() == [0, 0, 0] and sheet[2, 20].tolist() == [1, 1, 1]   # faces
    assert sheet[17, 2].tolist() == [0x4e, 0x79, 0xa7]                              # x's bar colour
    assert sheet[35, 2].tolist() == [0xd0, 0xd0, 0xd0]                              # unlabelled bar (light grey)
    assert sheet[0, 0].tolist() == [24, 24, 28]                                     # background


def test_sprite_page_metadata():
    dataset = toy_dataset()
    positions = np.flatnonzero(dataset.labels == 1)  # every third sample
    sheet, cells = sprite_page(dataset, positions, page=1, per_page=4, columns=2, cell=16)
    assert [c["index"] for c in cells] == positions[4:8].tolist()
    assert cells[0]["id"] == f"toy:{positions[4]}" and cells[0]["label"] == "y" and cells[0]["split"] == "train"
    assert sheet.ndim == 3


def test_label_text_and_ids():
    assert label_text([0, 1, -1], ("x", "y")).tolist() == ["x", "y", "(none)"]
    assert indices_of_ids(["a", "b", "c"], ["c", "z", "a"]).tolist() == [2, -1, 0]


def test_folder_paths_must_lie_under_the_data_root(tmp_path):
    root = tmp_path / "data"
    (root / "faces" / "happy").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (root / "link").symlink_to(tmp_path / "outside")
    assert resolve_data_folder("faces", root) == (root / "faces").resolve()
    assert resolve_data_folder(str(root / "faces" / "happy"), root) == (root / "faces" / "happy").resolve()
    for bad in ("../outside", str(tmp_path / "outside"), "link", "/etc", "faces/../../outside"):
        with pytest.raises(ValueError, match="only folders under FER_DATA_DIR"):
            resolve_data_folder(bad, root)
    for bad in ("", "missing"):
        with pytest.raises(ValueError):
            resolve_data_folder(bad, root)


def test_markdown_table_golden():
    assert markdown_table([{"a": 1, "b": None}, {"a": "x|y", "b": 2}]) == (
        "| a | b |\n| --- | --- |\n| 1 | — |\n| x\\|y | 2 |")
    assert markdown_table([]) == ""
