"""Video: upload a clip and get it back annotated, with each face's emotion over time and a CSV.

The work is ``fer_core.app.video_analysis.analyse_upload``: the upload is copied to a folder of
this analysis (``new_work_dir``, which removes the session's previous one), read frame by frame and
written out as an H.264 video that browsers play, with one CSV row per face per frame, in
constant memory. Faces keep their number from frame to frame ("Face 1" in the timeline is the
face numbered 1 on the video). Nothing here imports TensorFlow unless a Keras model or MTCNN is picked.
"""

import time

import streamlit as st

from fer_core.app.page_helpers import (FACE_MESH_HELP, FACE_MESH_LABEL, FLIP_TTA_HELP, FLIP_TTA_LABEL, VIDEO_DETECTORS,
                                       analysis_settings, confidence_note)
from fer_core.app.photo import download_name
from fer_core.app.resources import inference_sidebar, use_app_navigation
from fer_core.app.video_analysis import (MAX_VIDEO_MB, VIDEO_TYPES, analyse_upload, face_timeline_figure,
                                         new_work_dir, remove_work_dir)
from fer_core.errors import FerStudioError
from fer_core.inference.analysis import VIDEO_ANALYSIS

SMOOTHING_FRAMES = VIDEO_ANALYSIS.smoothing

use_app_navigation()  # a first visit by this page's URL: under app.py's navigation

st.title("Video")
st.caption(f"Upload a video ({MAX_VIDEO_MB} MB at most; {', '.join(VIDEO_TYPES)}). Every face is numbered, "
           "followed from frame to frame and labelled with its emotion; you get the annotated video, each "
           "face's emotion over time and a CSV. The video is copied to a temporary folder on this server "
           "while it is analysed; the results are deleted when you analyse another one.")

models, picked, detector_name, settings_box = inference_sidebar("video", "Video settings", VIDEO_DETECTORS)
if models.emotion is None:
    st.warning(models.notes["emotion"] + " Until then faces are boxed and numbered without an emotion.")

with settings_box:
    every = st.number_input("Process one frame in", min_value=1, max_value=30, value=1, step=1,
                            help="1: every frame. 3: one frame in three (three times faster; the annotated "
                                 "video then has a third of the frames, at a third of the frame rate).")
    smoothing = st.toggle("Smooth labels over frames", value=True, disabled=models.emotion is None,
                          help=f"Averages each face's probabilities over its last {SMOOTHING_FRAMES} processed "
                               "frames (by its number).")
    flip_tta = st.toggle(FLIP_TTA_LABEL, value=VIDEO_ANALYSIS.flip_tta, disabled=models.emotion is None,
                         help=FLIP_TTA_HELP)
    keypoints_on = st.toggle("Keypoints", value=False, disabled=models.keypoints is None,
                             help=models.notes.get("keypoints", "Draw the 15 facial keypoints."))
    mesh_on = st.toggle(FACE_MESH_LABEL, value=VIDEO_ANALYSIS.face_mesh, help=FACE_MESH_HELP)

upload = st.file_uploader("Video", type=list(VIDEO_TYPES), max_upload_size=MAX_VIDEO_MB)
done = st.session_state.get("video_result")  # upload id, settings, analysis, summary
if upload is None:
    remove_work_dir(st.session_state.pop("video_folder", None))  # the video was removed: so are its results
    st.session_state.pop("video_result", None)
    st.info("Upload a video to see its faces numbered, labelled and followed over time.")
    st.stop()

settings = (detector_name, int(every), smoothing, flip_tta, keypoints_on, mesh_on, str(models.emotion_path),
            str(models.keypoints_path))
result_files = (done["analysis"].video_path, done["analysis"].csv_path) if done else ()
fresh = done is not None and done["upload"] == upload.file_id and all(path.is_file() for path in result_files)
if fresh and done["settings"] != settings:
    st.info("The settings changed since this video was analysed.")
    fresh = not st.button("Analyse again with these settings", type="primary")

if not fresh:
    # The settings of `python -m fer_core predict` on a video (fer_core.inference.analysis), with this page's choices.
    analysis_choice = VIDEO_ANALYSIS.with_changes(detector=detector_name, flip_tta=flip_tta, face_mesh=mesh_on,
                                                  smoothing=SMOOTHING_FRAMES if smoothing else 0)
    detector = analysis_choice.shared_detector()  # a tracking one is new: it follows this video
    pipeline = analysis_choice.pipeline(models.emotion, models.keypoints if keypoints_on else None, detector=detector,
                                        track=True)
    st.session_state.pop("video_result", None)
    # The previous analysis's folder goes, even one a rerun interrupted (a setting changed meanwhile).
    st.session_state["video_folder"] = folder = new_work_dir(previous=st.session_state.get("video_folder"))
    bar = st.progress(0.0, text=f"Analysing {upload.name}...")
    started = shown = time.perf_counter()

    def show_progress(fraction, frames):
        global shown
        if time.perf_counter() - shown > 0.25:  # a few updates a second, not one per frame
            shown = time.perf_counter()
            bar.progress(fraction, text=f"Analysing {upload.name}: {frames} frame(s), {100 * fraction:.0f}%")

    try:
        analysis = analyse_upload(upload, pipeline, folder, every=int(every), progress=show_progress)
    except FerStudioError as error:
        bar.empty()
        st.error(f"Cannot use this video: {error}")
        st.stop()
    bar.empty()
    calibrated = models.emotion is not None and models.emotion.adjustment is not None
    summary = analysis_settings(picked["emotion"].runtime if models.emotion else None,
                                picked["keypoints"].runtime if keypoints_on and models.keypoints else None,
                                analysis_choice, detector, calibrated)
    done = {"upload": upload.file_id, "settings": settings, "analysis": analysis,
            "summary": f"{summary} · one frame in {int(every)} · analysed in {time.perf_counter() - started:.1f} s",
            "calibrated": calibrated}
    st.session_state["video_result"] = done

analysis = done["analysis"]
frames, faces, seconds = st.columns(3)
frames.metric("Frames analysed", analysis.frames)
faces.metric("Faces numbered", int(analysis.timeline["face"].nunique()))
seconds.metric("Length analysed", f"{analysis.seconds:.1f} s")
st.video(str(analysis.video_path), format="video/mp4")
st.caption(done["summary"])
if analysis.timeline.empty:
    st.info("No face with an emotion was found. Try another detector in the sidebar.")
else:
    st.plotly_chart(face_timeline_figure(analysis.timeline), key="video-timeline")
    st.caption("Face N is the face numbered N on the video. " + confidence_note(done["calibrated"]))
video_col, csv_col = st.columns(2)
video_col.download_button("Annotated video (MP4)", data=analysis.video_path.read_bytes,
                          file_name=download_name(upload.name, "_annotated.mp4"), mime="video/mp4")
csv_col.download_button("Results per face and frame (CSV)", data=analysis.csv_path.read_bytes,
                        file_name=download_name(upload.name, "_faces.csv"), mime="text/csv")
