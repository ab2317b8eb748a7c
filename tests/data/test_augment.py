"""Augmentation moves images and keypoints together; a flip swaps left and right points."""

import numpy as np
import tensorflow as tf

from fer_core.data.augment import (ERASE_SIDE_RANGE, Augmentation, augment_batch, erase_rectangles, imitate_cameras,
                                   mix_batch)


def _dot_image(x, y, side=96):
    image = np.zeros((side, side), np.float32)
    image[y - 1:y + 2, x - 1:x + 2] = 255
    return image


def test_no_op_augmentation_changes_nothing():
    images = np.random.default_rng(0).uniform(0, 255, (2, 48, 48, 1)).astype(np.float32)
    out, labels = augment_batch(tf.constant(images), tf.constant([1, 2]), Augmentation(False, 0, 0, 0))
    assert np.allclose(out.numpy(), images, atol=1e-3) and labels.numpy().tolist() == [1, 2]


def test_keypoints_follow_the_image_under_random_transforms():
    points = np.full((1, 15, 2), np.nan, np.float32)
    points[0, 0] = [60, 40]   # subject's left eye (image right)
    points[0, 1] = [36, 40]   # subject's right eye
    image = _dot_image(60, 40)[None, ..., None]  # a bright dot at the left-eye point only
    aug = Augmentation(flip=True, rotation=20, shift=0.1, zoom=0.15, stretch=0.15)
    for seed in range(8):
        tf.random.set_seed(seed)
        out, moved = augment_batch(tf.constant(image), tf.constant(points.reshape(1, 30)), aug, keypoints=True)
        moved = moved.numpy().reshape(15, 2)
        brightest = np.unravel_index(np.argmax(out.numpy()[0, :, :, 0]), (96, 96))[::-1]
        dot_point = moved[0] if np.linalg.norm(moved[0] - brightest) < np.linalg.norm(moved[1] - brightest) else moved[1]
        assert np.linalg.norm(dot_point - brightest) < 2.5
        assert moved[0, 0] > moved[1, 0], "the subject's left eye stays on the image's right"
        assert np.isnan(moved[2:]).all(), "missing points stay missing"


def test_flip_alone_mirrors_and_swaps():
    points = np.zeros((1, 15, 2), np.float32)
    points[0, 0], points[0, 1] = [70, 30], [20, 30]
    image = _dot_image(70, 30)[None, ..., None]
    aug = Augmentation(flip=True, rotation=0, shift=0, zoom=0)
    flipped = None
    for seed in range(20):
        tf.random.set_seed(seed)
        out, moved = augment_batch(tf.constant(image), tf.constant(points.reshape(1, 30)), aug, keypoints=True)
        if out.numpy()[0, 30, 70, 0] < 100:   # this draw flipped the image
            flipped = (out.numpy()[0, :, :, 0], moved.numpy().reshape(15, 2))
            break
    assert flipped is not None
    image_out, moved = flipped
    assert image_out[30, 95 - 70] > 200
    assert moved[0].tolist() == [95 - 20, 30] and moved[1].tolist() == [95 - 70, 30]


def test_random_erasing_hides_one_rectangle_per_chosen_image():
    images = np.full((16, 48, 48, 1), 128.0, np.float32)
    tf.random.set_seed(3)
    out = erase_rectangles(tf.constant(images), probability=1.0).numpy()
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 255
    for changed in (out != images)[..., 0]:
        rows, cols = np.nonzero(changed)
        assert len(rows) > 0, "probability 1 erases every image"
        box = changed[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        assert box.mean() > 0.95, "the erased pixels form one rectangle (noise may repeat a value)"
        assert box.shape[0] <= ERASE_SIDE_RANGE[1] * 48 + 1 and box.shape[1] <= ERASE_SIDE_RANGE[1] * 48 + 1


def test_random_erasing_probability_is_per_image():
    images = np.random.default_rng(1).uniform(0, 255, (400, 48, 48, 1)).astype(np.float32)
    assert np.array_equal(erase_rectangles(tf.constant(images), probability=0.0).numpy(), images)
    tf.random.set_seed(5)
    out, _ = augment_batch(tf.constant(images), tf.constant(np.arange(400)), Augmentation(False, 0, 0, 0, erase=0.5))
    erased = (np.abs(out.numpy() - images) > 1e-3).any(axis=(1, 2, 3))
    assert 0.4 < erased.mean() < 0.6, "about half of the images erased"


def test_mixup_blends_each_image_with_a_partner_and_its_label_alike():
    # image i is the constant 10 * (i + 1) and its target is one-hot at i, so a blend's target
    # says which images went into it and with what weights, and the pixel value must agree
    batch = 8
    values = 10.0 * np.arange(1, batch + 1, dtype=np.float32)
    images = np.broadcast_to(values[:, None, None, None], (batch, 4, 4, 1)).copy()
    targets = np.eye(batch, dtype=np.float32)
    tf.random.set_seed(5)
    mixed, mixed_targets = (t.numpy() for t in mix_batch(tf.constant(images), tf.constant(targets), alpha=0.4))
    assert mixed.shape == images.shape and mixed_targets.shape == targets.shape
    np.testing.assert_allclose(mixed_targets.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(mixed[:, 0, 0, 0], mixed_targets @ values, rtol=1e-5)
    assert (mixed == mixed[:, :1, :1, :]).all(), "a blend of constant images is constant"
    own = mixed_targets[np.arange(batch), np.arange(batch)]
    assert (own >= 0.5 - 1e-6).all(), "each image stays the larger part of its own blend"
    assert ((mixed_targets > 1e-6).sum(axis=1) <= 2).all(), "a blend of at most two images"
    assert (own < 0.999).any(), "some images were blended"


def test_stretch_alone_changes_the_aspect_ratio_within_its_range():
    points = np.zeros((1, 15, 2), np.float32)
    points[0, 0], points[0, 1], points[0, 2] = [70, 47.5], [20, 47.5], [45, 10]  # two eyes, a brow point above
    aug = Augmentation(flip=False, rotation=0, shift=0, zoom=0, stretch=0.2)
    ratios = []
    for seed in range(16):
        tf.random.set_seed(seed)
        _, moved = augment_batch(tf.zeros((1, 96, 96, 1)), tf.constant(points.reshape(1, 30)), aug, keypoints=True)
        moved = moved.numpy().reshape(15, 2)
        width, height = moved[0, 0] - moved[1, 0], moved[0, 1] - moved[2, 1]
        ratios.append((width / 50) / (height / 37.5))
    ratios = np.log(ratios) / 2  # width grows by exp(s) while height shrinks by exp(-s)
    assert np.all(np.abs(ratios) <= 0.2 + 1e-4) and ratios.std() > 0.05


def test_imitate_cameras_changes_only_the_chosen_images_and_stays_in_range():
    images = tf.constant(np.random.default_rng(0).uniform(0, 255, (64, 48, 48, 1)).astype(np.float32))
    assert np.array_equal(imitate_cameras(images, 0.0).numpy(), images.numpy())
    tf.random.set_seed(0)
    changed = imitate_cameras(images, 0.5).numpy()
    touched = np.abs(changed - images.numpy()).max(axis=(1, 2, 3)) > 1e-3
    assert 16 <= touched.sum() <= 48
    assert changed.min() >= 0 and changed.max() <= 255 and changed.shape == images.shape
