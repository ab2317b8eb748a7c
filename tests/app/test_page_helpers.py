"""fer_core.app.page_helpers and charts: what the embedding view puts into HTML and plotly text is escaped; the
inference pages' detector choices, confidence notes and the line that says what produced a result."""

from html.parser import HTMLParser

import numpy as np

from fer_core.app.charts import embedding_figure
from fer_core.app.page_helpers import (DETECTOR_HELP, PHOTO_DETECTORS, STREAM_DETECTORS, VIDEO_DETECTORS,
                                       analysis_settings, confidence_note, detector_help, detector_options,
                                       embedding_hover_texts, thumbnails_html)
from fer_core.inference.analysis import LIVE_ANALYSIS, PHOTO_ANALYSIS, VIDEO_ANALYSIS, AnalysisSettings
from fer_core.inference.detection import DETECTORS, HaarFaceDetector, TrackingFaceDetector, WholeImageDetector

HOSTILE = 'ck:happy/x" onerror="alert(1)<script>alert(2)</script>.png'


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parsed(text):
    parser = Tags()
    parser.feed(text)
    return parser.tags


def test_thumbnail_titles_are_escaped_file_names():
    html = thumbnails_html(["data:image/png;base64,AAAA", "data:image/png;base64,BBBB"], [HOSTILE, "plain.png"])
    assert parsed(html) == [("img", {"src": "data:image/png;base64,AAAA", "title": HOSTILE, "width": "56"}),
                            ("img", {"src": "data:image/png;base64,BBBB", "title": "plain.png", "width": "56"})]
    assert "<script>" not in html and "onerror" not in [name for _, attrs in parsed(html) for name in attrs]


def test_hover_texts_escape_ids_labels_and_predictions():
    (text,) = embedding_hover_texts([HOSTILE], ["<b>happy</b>"], ["sad & co"])
    assert text.startswith("ck:happy/x&quot; onerror=&quot;alert(1)&lt;script&gt;")
    assert text.endswith("<br>label &lt;b&gt;happy&lt;/b&gt;<br>predicted sad &amp; co")
    assert [tag for tag, _ in parsed(text)] == ["br", "br"]  # the only markup: the line breaks
    assert embedding_hover_texts(["a"], ["happy"]) == ["a<br>label happy"]


def test_embedding_legend_names_are_escaped():
    figure = embedding_figure(np.zeros((2, 2)), np.array(["<i>odd</i>", "happy"]), ("happy", "<i>odd</i>"),
                              ["u1", "u2"], ["h1", "h2"])
    assert [trace.name for trace in figure.data] == ["happy", "&lt;i&gt;odd&lt;/i&gt;"]


def test_detector_choices_are_the_ones_detection_can_make_each_explained(monkeypatch):
    from fer_core.inference import detection

    for names in (STREAM_DETECTORS, PHOTO_DETECTORS, VIDEO_DETECTORS):
        assert set(names) <= set(DETECTOR_HELP)
        assert detector_options(names) == [name for name in names if name in DETECTORS]
    # each page starts on its analysis settings' detector: BlazeFace, on the live page the cheaper combination
    assert detector_options(PHOTO_DETECTORS)[0] == PHOTO_ANALYSIS.detector == "blazeface"
    assert detector_options(VIDEO_DETECTORS)[0] == VIDEO_ANALYSIS.detector == "blazeface"
    assert detector_options(STREAM_DETECTORS)[0] == LIVE_ANALYSIS.detector == "blazeface-fast"
    for older in ("haar", "lbp", "mtcnn"):
        assert older in PHOTO_DETECTORS and older in VIDEO_DETECTORS and older in STREAM_DETECTORS
    assert "none" in PHOTO_DETECTORS
    monkeypatch.setattr(detection, "DETECTORS", ("haar", "lbp", "mtcnn", "none"))  # no BlazeFace installed
    assert detector_options(PHOTO_DETECTORS) == ["haar", "lbp", "mtcnn", "none"]
    assert detector_help(["haar", "none"]) == (f"haar: {DETECTOR_HELP['haar']}. none: {DETECTOR_HELP['none']}.")


def test_the_confidence_note_says_whether_percentages_are_calibrated_and_what_uncertain_means():
    calibrated, raw = confidence_note(True), confidence_note(False)
    assert calibrated.startswith("Percentages are calibrated") and "validation split" in calibrated
    assert raw.startswith("Percentages are the model's own outputs") and "calibrate" in raw
    assert calibrated.endswith("within 15 percentage points of each other (after calibration).")
    assert raw.endswith("within 15 percentage points of each other.")


def test_the_line_under_a_result_names_models_detector_working_size_and_flip_tta():
    line = analysis_settings("emotion_int8.tflite (LiteRT int8)", "keypoints.tflite (LiteRT float32)",
                             AnalysisSettings(detector="haar", detect_size=320), HaarFaceDetector(working_size=320),
                             calibrated=True)
    assert line == ("Emotion: emotion_int8.tflite (LiteRT int8), calibrated · keypoints: keypoints.tflite "
                    "(LiteRT float32) · detector: haar at 320 px (frames scaled down to it on the long side) · "
                    "flip TTA on")
    tracking = analysis_settings("model.keras (Keras, loads TensorFlow)", None,
                                 AnalysisSettings(detector="haar-track", flip_tta=False),
                                 TrackingFaceDetector(working_size=480))
    assert tracking == ("Emotion: model.keras (Keras, loads TensorFlow) · detector: haar-track at 480 px (frames "
                        "scaled down to it on the long side) · flip TTA off")
    none = AnalysisSettings(detector="none")
    assert analysis_settings(None, None, none, WholeImageDetector()) == "No emotion model · detector: none"
    # the photo default: BlazeFace gives the eyes, so faces are turned upright; the mesh is said when on
    assert analysis_settings("emotion.tflite (LiteRT float32)", None, PHOTO_ANALYSIS.with_changes(face_mesh=True)) == (
        "Emotion: emotion.tflite (LiteRT float32) · detector: blazeface · faces turned upright (eyes level) · "
        "face mesh · flip TTA on")
    assert "upright" not in analysis_settings("e", None, PHOTO_ANALYSIS.with_changes(align=False))
