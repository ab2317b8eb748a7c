"""FER Studio home page (placeholder until the dashboard lands; see README)."""

import streamlit as st

st.set_page_config(page_title="FER Studio", page_icon="🙂", layout="wide")
st.title("FER Studio")
st.write("Facial expression recognition and facial keypoints: datasets, models, training runs.")
