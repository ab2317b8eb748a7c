"""TensorBoard Embedding Projector bundles: sprite.png, metadata.tsv, tensors.tsv and
projector_config.pbtxt in one zip.

Unzip the bundle into a TensorBoard log folder (``tensorboard --logdir that``)
and open the Projector tab; or load tensors.tsv and metadata.tsv at
projector.tensorflow.org. The sprite is a square grid of thumbnails, in the
order of the rows of tensors.tsv. TensorBoard's limits hold: at most
``MAX_POINTS`` points (the first ones are kept, in all four files) and at most
``MAX_SPRITE_SIDE`` pixels per sprite side, the thumbnail side chosen from the
number of points (8192 // ceil(sqrt(points)), at most the 48 px wanted: 48 px
up to 28,900 points, 25 px at 100,000). Below ``MIN_THUMB`` pixels (only with a
smaller ``max_side``) fewer points are kept instead.
"""

import io
import math
import zipfile

import cv2
import numpy as np

# TensorBoard's Embedding Projector: a sprite of at most 8192 px a side (a WebGL texture), at most
# 100,000 points.
MAX_SPRITE_SIDE = 8192
MAX_POINTS = 100_000
MIN_THUMB = 8
TENSOR_NAME = "fer_features"


def sprite_layout(count, thumb, max_side=MAX_SPRITE_SIDE, min_thumb=MIN_THUMB, max_points=MAX_POINTS):
    """How many images fit in a sprite, and at what size.

    Arguments:
        count: images wanted.
        thumb: wanted thumbnail side in pixels (the largest used).
        max_side: the sprite's largest side.
        min_thumb: thumbnails are not shrunk below this; fewer images are kept instead.
        max_points: at most this many images (points) are kept.

    Returns:
        (images kept, thumbnail side, grid columns): the side is the largest up to ``thumb``
        with which ``columns`` thumbnails fit in ``max_side``.
    """
    count = min(count, max_points)
    if count <= 0:
        return 0, thumb, 0
    columns = math.ceil(math.sqrt(count))
    if columns * thumb <= max_side:
        return count, thumb, columns
    fitted = max_side // columns
    if fitted >= min_thumb:
        return count, fitted, columns
    columns = max_side // min_thumb
    return min(count, columns * columns), min_thumb, columns


def sprite_sheet(images, thumb=48, max_side=MAX_SPRITE_SIDE, min_thumb=MIN_THUMB, max_points=MAX_POINTS):
    """A square sprite sheet of grayscale images, row-major, padded with black.

    Arguments:
        images: uint8 array (N, H, W).
        thumb: wanted thumbnail side.
        max_side, min_thumb, max_points: see ``sprite_layout``.

    Returns:
        (uint8 sprite (S, S), thumbnail side, images kept); S = columns * side <= max_side.
    """
    kept, side, columns = sprite_layout(len(images), thumb, max_side, min_thumb, max_points)
    sprite = np.zeros((columns * side, columns * side), np.uint8)
    for i in range(kept):
        row, col = divmod(i, columns)
        image = images[i]
        if image.shape[:2] != (side, side):
            image = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
        sprite[row * side:(row + 1) * side, col * side:(col + 1) * side] = image
    return sprite, side, kept


def _cell(value):
    text = "" if value is None else str(value)
    return text.replace("\t", " ").replace("\n", " ").replace("\r", " ")


def metadata_tsv(columns):
    """metadata.tsv with a header row (the Projector needs one when there is more than one column).

    Arguments:
        columns: dict {column name: sequence of values}, all of the same length
            (e.g. label, split, id, prediction).

    Returns:
        str.
    """
    names = list(columns)
    lengths = {len(columns[n]) for n in names}
    if len(lengths) > 1:
        raise ValueError(f"metadata columns differ in length: {sorted(lengths)}")
    lines = ["\t".join(_cell(n) for n in names)]
    lines += ["\t".join(_cell(columns[n][i]) for n in names) for i in range(lengths.pop() if lengths else 0)]
    return "\n".join(lines) + "\n"


def tensors_tsv(features):
    """tensors.tsv: one row of tab-separated floats per point, no header."""
    features = np.asarray(features, np.float32).reshape(len(features), -1)
    buffer = io.StringIO()
    np.savetxt(buffer, features, fmt="%.6g", delimiter="\t")
    return buffer.getvalue()


def projector_config(count, dimensions, thumb, tensor_name=TENSOR_NAME):
    """projector_config.pbtxt pointing at the three files of the bundle."""
    return (
        "embeddings {\n"
        f'  tensor_name: "{tensor_name}"\n'
        f"  tensor_shape: {int(count)}\n"
        f"  tensor_shape: {int(dimensions)}\n"
        '  tensor_path: "tensors.tsv"\n'
        '  metadata_path: "metadata.tsv"\n'
        "  sprite {\n"
        '    image_path: "sprite.png"\n'
        f"    single_image_dim: {int(thumb)}\n"
        f"    single_image_dim: {int(thumb)}\n"
        "  }\n"
        "}\n"
    )


def png_bytes(image):
    """PNG-encodes a uint8 image (grayscale, or RGB)."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("PNG encoding failed")
    return encoded.tobytes()


def projector_bundle(features, images, metadata, thumb=48, max_side=MAX_SPRITE_SIDE, max_points=MAX_POINTS):
    """The four Projector files in a zip.

    Arguments:
        features: (N, D) embedding.
        images: uint8 (N, H, W) faces, in the same order.
        metadata: dict {column: values} of length N (label, split, id, prediction ...).
        thumb: the largest sprite thumbnail side (smaller when N thumbnails would not fit).
        max_side: the sprite's largest side.
        max_points: at most this many points; when all N do not fit (in points or in the
            sprite), only the first ones are kept, in all four files (``sprite_layout`` says how many).

    Returns:
        bytes of a zip archive.
    """
    sprite, side, kept = sprite_sheet(images, thumb, max_side, max_points=max_points)
    metadata = {name: list(values)[:kept] for name, values in metadata.items()}
    features = np.asarray(features)[:kept]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("tensors.tsv", tensors_tsv(features))
        archive.writestr("metadata.tsv", metadata_tsv(metadata))
        archive.writestr("sprite.png", png_bytes(sprite))
        archive.writestr("projector_config.pbtxt",
                         projector_config(kept, features.shape[1] if features.ndim == 2 else 0, side))
    return buffer.getvalue()
