"""Live webcam: every face boxed with its emotion, live, in the browser (streamlit-webrtc).

The video callback (``fer_core.app.live.LiveAnnotator``) runs in streamlit-webrtc's worker
thread and makes no Streamlit call; its per-frame records reach this page through a
queue, which a fragment drains once a second for the readout, each face's timeline and the CSV. The
speed readout (``fer_core.app.live.live_readout``) is shown in one place: on the video, or,
with "FPS on the video" off, below it.
"""

import os
from collections import deque

import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from fer_core.app.live import (ICE_SERVERS_ENV, LOOPBACK_ICE_ENV, RECORD_PATH_ENV, TIMELINE_SECONDS, LiveAnnotator,
                               face_timeline, ice_servers, live_readout, patch_aioice_for_loopback,
                               records_to_csv, rtc_configuration)
from fer_core.app.video_analysis import face_timeline_figure
from fer_core.inference.analysis import LIVE_ANALYSIS
from fer_core.app.resources import inference_sidebar, use_app_navigation
from fer_core.app.page_helpers import (FACE_MESH_HELP, FACE_MESH_LABEL, FLIP_TTA_HELP, FLIP_TTA_LABEL, STREAM_DETECTORS,
                                       uncertain_rule)

SMOOTHING_FRAMES = LIVE_ANALYSIS.smoothing
HISTORY_FRAMES = 30 * 60 * 10  # the session kept for the CSV: 10 minutes at 30 fps

use_app_navigation()  # a first visit by this page's URL: under app.py's navigation

if os.environ.get(LOOPBACK_ICE_ENV) == "1":
    patch_aioice_for_loopback()  # real-browser tests only (loopback-only network namespace)


def read_ice_servers():
    try:
        return ice_servers(secrets=st.secrets), None
    except ValueError as error:
        return [], str(error)


st.title("Live webcam")
st.caption("Faces found in your camera's video, each boxed with its number (kept while it stays in view), "
           "emotion and confidence. Frames are processed on this server; nothing is stored.")

models, _, detector_name, settings_box = inference_sidebar("live", "Live settings", STREAM_DETECTORS)
if models.emotion is None:
    st.warning(models.notes["emotion"] + " Until then the video shows face boxes only.")

with settings_box:
    smoothing = st.toggle("Smooth labels over frames", value=True,
                          help=f"Averages each face's probabilities over its last {SMOOTHING_FRAMES} frames "
                               "(by its number).")
    keypoints_on = st.toggle("Keypoints", value=False, disabled=models.keypoints is None,
                             help=models.notes.get("keypoints", "Draw the 15 facial keypoints."))
    flip_tta = st.toggle(FLIP_TTA_LABEL, value=LIVE_ANALYSIS.flip_tta, disabled=models.emotion is None,
                         help=FLIP_TTA_HELP)
    mesh_on = st.toggle(FACE_MESH_LABEL, value=LIVE_ANALYSIS.face_mesh, help=FACE_MESH_HELP)
    readout_on = st.toggle("FPS on the video", value=True,
                           help="Frames per second and the median time per frame over the last second, "
                                "drawn on the video; off: shown below it instead.")

servers, ice_error = read_ice_servers()
if ice_error:
    st.error(ice_error)

settings = (detector_name, smoothing, keypoints_on, flip_tta, mesh_on, str(models.emotion_path),
            str(models.keypoints_path))
if "live_annotator" not in st.session_state:
    st.session_state.live_history = deque(maxlen=HISTORY_FRAMES)
    st.session_state.live_annotator = LiveAnnotator(None, record_path=os.environ.get(RECORD_PATH_ENV))
annotator = st.session_state.live_annotator
if st.session_state.get("live_settings") != settings or annotator.pipeline is None:
    analysis_choice = LIVE_ANALYSIS.with_changes(detector=detector_name, flip_tta=flip_tta, face_mesh=mesh_on,
                                                 smoothing=SMOOTHING_FRAMES if smoothing else 0)
    with st.spinner(f"Loading the {detector_name} detector..."):
        detector = analysis_choice.shared_detector()  # a tracking one is new: it follows this stream
    annotator.configure(pipeline=analysis_choice.pipeline(
        models.emotion, models.keypoints if keypoints_on else None, detector=detector, track=True))
    st.session_state.live_settings = settings
annotator.configure(draw_keypoints=keypoints_on, show_readout=readout_on)

context = webrtc_streamer(
    key="live-webcam",
    mode=WebRtcMode.SENDRECV,
    rtc_configuration=rtc_configuration(servers),
    media_stream_constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}, "audio": False},
    video_frame_callback=annotator,
    async_processing=True,
)
if models.emotion is not None:
    st.caption(f"A **?** after a label means uncertain: {uncertain_rule(models.emotion.adjustment is not None)}.")
with st.expander("The video does not connect?", expanded=bool(ice_error)):
    configured = f"{len(servers)} STUN/TURN server(s) configured." if servers else \
        "No STUN/TURN server is configured: that is right when the browser runs on this machine."
    st.markdown(f"{configured} Browsers allow the camera only on https or on localhost. When the browser is on "
                f"another network than this server, set `{ICE_SERVERS_ENV}` to JSON such as "
                '`[{"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}]`, '
                "or `ice_servers` in `.streamlit/secrets.toml`, and restart the app.")
playing = bool(context and context.state.playing)


@st.fragment(run_every=1.0 if playing else None)
def live_results():
    history = st.session_state.live_history
    history.extend(annotator.drain())
    stats = annotator.stats
    readout = live_readout(history) if playing else None  # stopped: no stale speed or face count
    faces, speed = st.columns(2)
    faces.metric("Faces in the last frame", readout.faces if readout else "-")
    if not readout_on:  # one readout: on the video, or here
        speed.metric("Speed (frames per second | time per frame)", readout.text() if readout else "-")
    if stats["last_error"]:
        st.error(f"Frames are passed through unprocessed: {stats['last_error']}")
    if models.emotion is not None and history:
        st.plotly_chart(face_timeline_figure(face_timeline(list(history))), key="live-timeline")
        st.caption(f"The last {TIMELINE_SECONDS:.0f} seconds; Face N is the face numbered N on the video.")
    elif not history:
        st.info("Press START to stream your camera; each face's emotion timeline and the results appear here.")
    if history:
        st.download_button(
            "Download this session's results (CSV)",
            data=lambda: records_to_csv(list(history), models.label_names, with_keypoints=keypoints_on),
            file_name="live_session.csv", mime="text/csv", key="live-csv")
        if not playing and st.button("Clear the session"):
            history.clear()
            annotator.reset()
            st.rerun()


live_results()
