"""A paged sprite grid of dataset samples for the browser, in the Embedding Projector's look:
thumbnails on a dark sheet, each with a bar in its label's colour and the label written on it.

Pipeline (``sprite_page``): the indices of one page, each face enlarged to a
cell, its label bar drawn, the cells laid out row by row; the image comes with
one metadata row per cell (position, index, id, label).
"""

import math

import cv2
import numpy as np

from fer_core.data.palette import UNLABELLED_COLOR, hex_to_rgb, label_colors

BACKGROUND = (24, 24, 28)
BAR_HEIGHT = 14


def page_count(count, per_page):
    """Number of pages of ``per_page`` items (at least 1)."""
    return max(1, math.ceil(count / max(1, per_page)))


def page_indices(count, page, per_page):
    """The item positions on 0-based page ``page`` (clamped to the last page)."""
    page = min(max(0, page), page_count(count, per_page) - 1)
    return np.arange(page * per_page, min(count, (page + 1) * per_page))


def _write(out, text, y, cell):
    """Writes white text at baseline ``y`` of a cell, in a smaller font (down to 0.28) where it would not fit
    in the cell's width, and cut short where even that does not fit."""
    text = text[:cell // 5]
    scale = 0.35 if cell < 96 else 0.45
    while scale > 0.28 and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > cell - 4:
        scale -= 0.01
    cv2.putText(out, text, (2, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def render_cell(image, cell, color=None, text="", note=""):
    """One grid cell: the face resized to cell x cell (RGB), a colour bar and a caption at the bottom,
    and an optional note on a dark strip at the top (e.g. a model's answer)."""
    face = cv2.resize(image, (cell, cell), interpolation=cv2.INTER_NEAREST if image.shape[0] < cell
                      else cv2.INTER_AREA)
    out = cv2.cvtColor(face, cv2.COLOR_GRAY2RGB) if face.ndim == 2 else face.copy()
    bar = min(BAR_HEIGHT, cell // 4)
    if color is not None:
        out[cell - bar:] = hex_to_rgb(color)
        if text and cell >= 48:
            _write(out, text, cell - 3, cell)
    if note and cell >= 48:
        out[:bar] = BACKGROUND
        _write(out, note, bar - 3, cell)
    return out


def captioned_grid(images, captions=None, colors=None, columns=10, cell=72, gap=4, notes=None):
    """Lays faces out in a grid, each with an optional colour bar and caption.

    Arguments:
        images: uint8 (N, H, W) faces.
        captions: N strings, or None.
        colors: N hex colours of the bars, or None for no bars.
        columns: cells per row.
        cell: side of a cell in pixels.
        gap: pixels between cells.
        notes: N strings written at the top of each cell, or None.

    Returns:
        (uint8 RGB image, list of dicts {"cell", "row", "col"} per face).
    """
    count = len(images)
    rows = max(1, math.ceil(count / columns))
    sheet = np.empty((rows * (cell + gap) + gap, columns * (cell + gap) + gap, 3), np.uint8)
    sheet[:] = BACKGROUND
    cells = []
    for i in range(count):
        row, col = divmod(i, columns)
        y, x = gap + row * (cell + gap), gap + col * (cell + gap)
        sheet[y:y + cell, x:x + cell] = render_cell(images[i], cell, None if colors is None else colors[i],
                                                    "" if captions is None else captions[i],
                                                    "" if notes is None else notes[i])
        cells.append({"cell": i, "row": row, "col": col})
    return sheet, cells


def label_bars(labels, label_names):
    """The bar colour and caption of each label: its colour and name; light grey and "none" for -1."""
    palette = label_colors(label_names)
    known = [0 <= int(label) < len(label_names) for label in labels]
    colors = [palette[label_names[int(label)]] if ok else UNLABELLED_COLOR for label, ok in zip(labels, known)]
    captions = [label_names[int(label)] if ok else "none" for label, ok in zip(labels, known)]
    return colors, captions


def sprite_grid(images, labels=None, label_names=(), columns=10, cell=72, gap=4, notes=None):
    """Lays faces out in a grid with their labels (bar in the label's colour, name written on it).

    Arguments:
        images: uint8 (N, H, W) faces.
        labels: int (N,) labels (-1 = none) or None for no label bars.
        label_names: names indexed by label.
        columns, cell, gap, notes: see ``captioned_grid``.

    Returns:
        (uint8 RGB image, list of dicts {"cell", "row", "col"} per face).
    """
    if labels is None:
        return captioned_grid(images, None, None, columns, cell, gap, notes)
    colors, captions = label_bars(labels, label_names)
    return captioned_grid(images, captions, colors, columns, cell, gap, notes)


def labelled_cells(images, labels=None, label_names=(), cell=72, notes=None):
    """Each face as its own grid cell (``render_cell``: label bar and name, optional note), e.g. for a
    table of thumbnails.

    Returns:
        list of uint8 RGB (cell, cell, 3).
    """
    colors, captions = label_bars(labels, label_names) if labels is not None else ([None] * len(images),
                                                                                  [""] * len(images))
    return [render_cell(image, cell, color, caption, "" if notes is None else notes[i])
            for i, (image, color, caption) in enumerate(zip(images, colors, captions))]


def sprite_page(dataset, positions, page=0, per_page=60, columns=10, cell=72):
    """One page of a dataset's samples as a labelled grid.

    Arguments:
        dataset: a ``fer_core.data.Dataset``.
        positions: the sample positions to page through (a filter's result).
        page: 0-based page number.
        per_page, columns, cell: grid layout.

    Returns:
        (uint8 RGB image, list of dicts per cell: cell, row, col, index, id, label, split).
    """
    on_page = np.asarray(positions)[page_indices(len(positions), page, per_page)]
    labelled = dataset.task != "keypoints"
    sheet, cells = sprite_grid(dataset.images[on_page], dataset.labels[on_page] if labelled else None,
                               dataset.label_names, columns, cell)
    for info, index in zip(cells, on_page):
        label = int(dataset.labels[index])
        info.update(index=int(index), id=str(dataset.ids[index]), split=str(dataset.splits[index]),
                    label=dataset.label_names[label] if 0 <= label < len(dataset.label_names) else "(none)")
    return sheet, cells
