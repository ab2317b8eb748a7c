"""Label colours: one colour per emotion name, the same in every chart, sprite grid and overlay.

An emotion keeps its colour whatever the dataset calls it (FER2013's "angry" and FER+'s "anger"
are one red) and wherever it is drawn. Other labels (folder datasets' class names) get colours
from a categorical palette by position.
"""

# Colours of the emotions, by FER2013's names (``config.canonical_emotion``), as #rrggbb.
EMOTION_COLORS = {
    "angry": "#d62728", "disgust": "#2ca02c", "fear": "#9467bd", "happy": "#f2c400", "sad": "#1f77b4",
    "surprise": "#ff7f0e", "neutral": "#8c8c8c", "contempt": "#8c564b",
}
# Categorical colours for other labels (Tableau 10, then a few more), readable on white and on black.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac", "#17becf", "#bcbd22")
UNLABELLED_COLOR = "#d0d0d0"


def emotion_color(name):
    """The #rrggbb colour of an emotion name in any dataset's spelling, or None for another label."""
    from fer_core.config import canonical_emotion

    return EMOTION_COLORS.get(canonical_emotion(str(name)))


def label_colors(label_names):
    """{label name: #rrggbb}: an emotion's own colour, other labels a palette colour by position."""
    others = iter(PALETTE * (len(label_names) // len(PALETTE) + 1))
    return {name: emotion_color(name) or next(others) for name in label_names}


def hex_to_rgb(color):
    """'#rrggbb' -> (r, g, b)."""
    color = color.lstrip("#")
    return tuple(int(color[i:i + 2], 16) for i in (0, 2, 4))


def readable_text_color(color):
    """'#000000' or '#ffffff', whichever reads better on a #rrggbb background (by its luminance)."""
    r, g, b = hex_to_rgb(color)
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#ffffff"
