"""One colour per emotion name across the app (charts, sprite grids, overlays), whatever the dataset calls it."""

from fer_core.data.palette import EMOTION_COLORS, label_colors, readable_text_color
from fer_core.inference.overlay import label_color


def test_an_emotion_has_one_colour_in_every_label_set():
    fer2013 = label_colors(("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"))
    ferplus = label_colors(("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"))
    ckplus = label_colors(("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"))
    assert fer2013["angry"] == ferplus["anger"] == ckplus["anger"] == EMOTION_COLORS["angry"]
    assert fer2013["happy"] == ferplus["happiness"] == ckplus["happy"]
    assert ferplus["contempt"] == ckplus["contempt"]
    assert len(set(ferplus.values())) == 8


def test_overlays_draw_the_colour_charts_use():
    r, g, b = (int(EMOTION_COLORS["sad"][i:i + 2], 16) for i in (1, 3, 5))
    assert label_color("sadness") == label_color("sad") == (b, g, r)


def test_other_labels_get_distinct_palette_colours_and_readable_text():
    colors = label_colors(("cat", "dog", "happy"))
    assert colors["cat"] != colors["dog"] and colors["happy"] == EMOTION_COLORS["happy"]
    assert readable_text_color(EMOTION_COLORS["happy"]) == "#000000"
    assert readable_text_color(EMOTION_COLORS["sad"]) == "#ffffff"
