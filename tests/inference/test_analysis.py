from fer_core.inference.analysis import LIVE_ANALYSIS, PHOTO_ANALYSIS, AnalysisSettings, analysis_record
from fer_core.inference.detection import get_detector, working_size_of
from fer_core.inference.pipeline import FacePipeline


def test_the_settings_share_one_detector_with_every_other_user_of_the_same_settings():
    photo = PHOTO_ANALYSIS.shared_detector()
    assert photo is PHOTO_ANALYSIS.shared_detector() is get_detector("blazeface")
    assert working_size_of(photo) is None  # BlazeFace's models have fixed inputs
    haar = AnalysisSettings(detector="haar", detect_size=320)
    assert haar.shared_detector() is get_detector("haar", working_size=320)
    assert haar.shared_detector() is not haar.with_changes(detect_size=640).shared_detector()


def test_a_tracking_detector_is_new_for_each_stream_and_searches_at_the_settings_size():
    live = LIVE_ANALYSIS.with_changes(detector="haar-track")
    first, second = live.shared_detector(), live.shared_detector()
    assert first is not second
    assert working_size_of(first) == LIVE_ANALYSIS.detect_size == 320
    assert "haar-track at 320 px" in live.describe(first, emotion=False)


def test_a_pipeline_built_without_settings_reports_its_detectors_working_size():
    record = analysis_record(FacePipeline(get_detector("lbp", working_size=480)))
    assert record["detector"]["name"] == "lbp" and record["detector"]["detect_size"] == 480
    assert record["models"] == {}
