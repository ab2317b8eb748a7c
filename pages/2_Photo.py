"""Photo: upload photos (or take one, or try a sample) and see each face's emotion, keypoints and saliency.

Photos are decoded in memory (``fer_core.app.photo`` / ``fer_core.inference.imageio``: size limits,
EXIF rotation, large photos analysed at a bounded working size) and never written to disk.
TensorFlow is loaded only for Grad-CAM.
"""

import json

import streamlit as st

from fer_core.errors import FerStudioError
from fer_core.app.photo import (MAX_MEGAPIXELS, MAX_UPLOAD_MB, SAMPLE_NAME, UPLOAD_TYPES, WORKING_PIXELS,
                                EncodedImages, PixelBudget, analyse_photo, download_name, face_title,
                                probability_figure, sample_photo)
from fer_core.inference.analysis import PHOTO_ANALYSIS
from fer_core.inference.pipeline import emotion_angle
from fer_core.inference.saliency import explain_face, keras_model_of, overlay_heatmap
from fer_core.app.resources import inference_sidebar, use_app_navigation
from fer_core.app.page_helpers import (FACE_MESH_HELP, FACE_MESH_LABEL, FLIP_TTA_HELP, FLIP_TTA_LABEL, PHOTO_DETECTORS,
                                       analysis_settings, confidence_note)

use_app_navigation()  # a first visit by this page's URL: under app.py's navigation


@st.cache_resource(show_spinner="Loading the Keras model for Grad-CAM (TensorFlow)...")
def grad_cam_model(_classifier, source):
    return keras_model_of(_classifier)


st.title("Photo")
st.caption(f"Upload photos ({MAX_UPLOAD_MB} MB and {MAX_MEGAPIXELS} megapixels each at most; over "
           f"{WORKING_PIXELS // 1_000_000} megapixels, they are analysed at a fraction of their size), take one "
           "with your camera, or try a sample. Photos are analysed in memory and never stored.")

models, picked, detector_name, settings_box = inference_sidebar("photo", "Photo settings", PHOTO_DETECTORS)
with settings_box:
    keypoints_on = st.toggle("Keypoints", value=True, disabled=models.keypoints is None,
                             help=models.notes.get("keypoints", "Draw the 15 facial keypoints."))
    flip_tta = st.toggle(FLIP_TTA_LABEL, value=PHOTO_ANALYSIS.flip_tta, disabled=models.emotion is None,
                         help=FLIP_TTA_HELP)
    mesh_on = st.toggle(FACE_MESH_LABEL, value=PHOTO_ANALYSIS.face_mesh, help=FACE_MESH_HELP)
    saliency_on = st.toggle("Saliency map", value=False, disabled=models.emotion is None,
                            help="Which part of each face drove its top emotion.")
    saliency_method = st.radio("Saliency method", ["occlusion", "grad-cam"], disabled=not saliency_on,
                               help="occlusion: hides patches of the face in turn (fast, any model). "
                                    "grad-cam: the last conv layer's gradients (needs the .keras model; "
                                    "loads TensorFlow).")
if models.emotion is None:
    st.warning(models.notes["emotion"] + " Until then faces are boxed without an emotion.")


def sample_off():
    """New photos replace the sample: it stays only while its toggle is on and nothing newer came."""
    st.session_state.photo_sample = False


uploads = st.file_uploader("Photos", type=list(UPLOAD_TYPES), accept_multiple_files=True,
                           max_upload_size=MAX_UPLOAD_MB, on_change=sample_off)
camera_col, sample_col = st.columns(2)
use_camera = camera_col.toggle("Use my camera")
use_sample = sample_col.toggle("Try a sample (astronaut)", key="photo_sample",
                               help="scikit-image's astronaut photo (NASA, public domain). "
                                    "Uploading or taking a photo turns it off.")
shot = st.camera_input("Take a photo", on_change=sample_off) if use_camera else None

photos = [(upload.name, upload) for upload in uploads or []]
if shot is not None:
    photos.append(("camera.jpg", shot))
if use_sample:
    photos.append((SAMPLE_NAME, sample_photo()))
if not photos:
    st.info("Upload a photo, take one, or turn on **Try a sample** to see the analysis.")
    st.stop()

# The same settings as `python -m fer_core predict` on a photo (fer_core.inference.analysis), with this page's choices.
analysis_choice = PHOTO_ANALYSIS.with_changes(detector=detector_name, flip_tta=flip_tta, face_mesh=mesh_on)
with st.spinner(f"Loading the {detector_name} detector..."):
    detector = analysis_choice.shared_detector()
pipeline = analysis_choice.pipeline(models.emotion, models.keypoints if keypoints_on else None, detector=detector)
calibrated = models.emotion is not None and models.emotion.adjustment is not None
settings = analysis_settings(picked["emotion"].runtime if models.emotion else None,
                             picked["keypoints"].runtime if keypoints_on and models.keypoints else None,
                             analysis_choice, detector, calibrated)
if models.emotion is not None:
    st.caption(confidence_note(calibrated))

budget = PixelBudget()  # the pixels this run analyses, all photos together
encoded = st.session_state.setdefault("photo_encoded", EncodedImages())  # a rerun does not encode again
for number, (name, source) in enumerate(photos):
    st.divider()
    try:
        analysis = analyse_photo(name, source, pipeline, draw_keypoints=keypoints_on, budget=budget,
                                 encoded=encoded)
    except FerStudioError as error:
        st.error(f"Cannot use this photo: {error}")
        continue
    st.subheader(name)
    for notice in analysis.notices:
        st.info(notice[:1].upper() + notice[1:] + ".")
    image_col, faces_col = st.columns([3, 2])
    image_col.image(analysis.shown, caption=analysis.caption())
    png, data = image_col.columns(2)
    png.download_button("Annotated image (PNG)", analysis.png_bytes, download_name(name, "_annotated.png"),
                        mime="image/png", key=f"png-{number}")  # encoded when asked for
    data.download_button("Results (JSON)", json.dumps(analysis.to_json(), indent=2),
                         download_name(name, "_faces.json"), mime="application/json", key=f"json-{number}")
    image_col.caption(settings)
    with faces_col:
        if not analysis.results:
            st.info("No face found. Try another detector in the sidebar, or a photo with a frontal face.")
        for index, result in enumerate(analysis.results):
            if result.probabilities:
                st.plotly_chart(probability_figure(result, face_title(index + 1, result)),
                                key=f"probs-{number}-{index}")
            else:
                st.write(f"Face {index + 1} at {result.box}")
            if saliency_on and models.emotion is not None:
                try:
                    keras_model = None
                    if saliency_method == "grad-cam":
                        keras_model = grad_cam_model(models.emotion, str(models.emotion.source))
                    shown = models.emotion.label_names.index(result.label) if result.label else None
                    saliency = explain_face(models.emotion, analysis.image, result.box, saliency_method,
                                            class_index=shown, keras_model=keras_model,  # the label shown
                                            angle=emotion_angle(result.roll))  # on the crop the model saw
                except FerStudioError as error:
                    st.error(f"No saliency map: {error}")
                    continue
                st.image(overlay_heatmap(saliency.crop, saliency.crop_map, size=192), channels="BGR",
                         caption=f"{saliency.method}: where face {index + 1} looks '{saliency.label}' "
                                 "(red: most)")
