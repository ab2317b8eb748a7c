"""Label colours: one colour per label name, the same in every chart, grid and overlay."""

# Categorical colours (Tableau 10, then a few more), readable on white and on black.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac", "#17becf", "#bcbd22")
UNLABELLED_COLOR = "#7f7f7f"


def label_colors(label_names):
    """{label name: hex colour}, stable by position."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(label_names)}


def hex_to_rgb(color):
    """'#rrggbb' -> (r, g, b)."""
    color = color.lstrip("#")
    return tuple(int(color[i:i + 2], 16) for i in (0, 2, 4))
