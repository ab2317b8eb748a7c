"""Measures how OpenCV's Haar face box sits relative to the 68 landmarks.

The keypoint dataset has no detector boxes, so its training crops are cut from
a box computed from the landmarks (``fer_core.data.keypoints.landmark_box``).
For those crops to look like what the Haar detector gives at inference, that
box is fitted to Haar's boxes on the training images. This script prints the
fitted constants (centre offset and scale, in units of the landmark extent) and
the IoU of the resulting boxes with Haar's.

    FER_DATA_DIR=../shared/data python -m scripts.calibrate_keypoint_box   (from the repository root)
"""

import sys

import cv2
import numpy as np
import pandas as pd

from fer_core.config import data_dir
from fer_core.data.keypoints import landmark_box, landmark_extent
from fer_core.data.face_crops import box_iou


def main(limit=1500):
    root = data_dir() / "keypoints"
    frame = pd.read_csv(root / "training_frames_keypoints.csv")
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    rows = []
    for _, row in frame.head(limit).iterrows():
        points = row.iloc[1:].to_numpy(float).reshape(68, 2)
        gray = cv2.imread(str(root / "training" / row.iloc[0]), cv2.IMREAD_GRAYSCALE)
        faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(30, 30))
        cx, cy, extent = landmark_extent(points)
        inside = [f for f in faces if f[0] <= cx <= f[0] + f[2] and f[1] <= cy <= f[1] + f[3]]
        if len(inside) != 1:
            continue
        x, y, w, h = inside[0]
        rows.append(((x + w / 2 - cx) / extent, (y + h / 2 - cy) / extent, w / extent, points, inside[0]))
    dx, dy, scale = (np.median([r[i] for r in rows]) for i in range(3))
    print(f"faces matched: {len(rows)}")
    print(f"BOX_CENTER_DX = {dx:.3f}\nBOX_CENTER_DY = {dy:.3f}\nBOX_SCALE = {scale:.3f}")
    ious = [box_iou(landmark_box(r[3]), r[4]) for r in rows]
    print(f"IoU of landmark_box with Haar (current constants): median {np.median(ious):.3f}, "
          f"10th percentile {np.percentile(ious, 10):.3f}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
