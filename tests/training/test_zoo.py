"""The model zoo: every tutorial network builds by name with the documented shapes."""

import numpy as np
import pytest

from fer_core.config import MODEL_NAMES
from fer_core.training.zoo import build_model, default_input_size, model_task


@pytest.mark.parametrize("name, params", [
    ("lenet5", 4_774_791), ("emotion_cnn", 2_380_679), ("vgg_fer", 2_328_007),
    ("mini_xception", 58_423), ("resnet10", 4_906_311), ("resnet18", 11_180_871),
    ("keypoint_cnn", 8_051_502), ("keypoint_xception", 785_006)])
def test_zoo_models_build_with_their_tutorial_sizes(name, params):
    model = build_model(name)
    assert model.count_params() == params
    assert model.get_layer("features") is not None
    if model_task(name) == "keypoints":
        assert model.input_shape == (None, 96, 96, 1) and model.output_shape == (None, 30)
    else:
        assert model.input_shape == (None, 48, 48, 1) and model.output_shape == (None, 7)


def test_input_size_and_class_count_are_configurable():
    model = build_model("mini_xception", (64, 64, 1), num_classes=8)
    assert model.input_shape == (None, 64, 64, 1) and model.output_shape == (None, 8)
    probs = np.asarray(model.predict_on_batch(np.full((2, 64, 64, 1), 128, np.float32)))
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_untrained_keypoint_models_predict_near_the_crop_centre():
    for name in ("keypoint_cnn", "keypoint_xception"):
        model = build_model(name)
        out = np.asarray(model.predict_on_batch(np.full((1, 96, 96, 1), 100, np.float32)))
        assert np.all(np.abs(out - 48) < 20), "outputs are pixels of the 96x96 crop"
    assert np.allclose(out, 48), "keypoint_xception starts with every point at the centre"


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model 'resnet9000'"):
        build_model("resnet9000")
    assert default_input_size("keypoint_cnn") == 96 and len(MODEL_NAMES) == 8


def test_resnet10_downsamples_after_its_stem_to_a_3x3_map():
    model = build_model("resnet10")
    maps = [layer.output.shape[1] for layer in model.layers if layer.__class__.__name__ == "Add"]
    assert maps == [24, 12, 6, 3], "one residual block per stage, halving from 24 pixels"
    assert model.get_layer("features").output.shape == (None, 512)


def test_resnet18_has_two_blocks_per_stage():
    model = build_model("resnet18")
    maps = [layer.output.shape[1] for layer in model.layers if layer.__class__.__name__ == "Add"]
    assert maps == [24, 24, 12, 12, 6, 6, 3, 3]
