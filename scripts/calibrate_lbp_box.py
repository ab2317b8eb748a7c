"""Measures how the LBP cascade's face box sits relative to the Haar cascade's.

Every model is trained on crops that match Haar boxes (FER2013's crops look like
them, and the keypoint crops are calibrated to them by calibrate_keypoint_box.py).
The faster LBP detector frames faces a little differently, so its boxes are mapped
onto Haar's with three constants: centre offset (dx, dy) and scale, in units of the
LBP box side. This script fits them (medians) on faces both detectors find in the
keypoint set's training images and prints the IoU with Haar before and after.

    FER_DATA_DIR=../shared/data python -m scripts.calibrate_lbp_box [LIMIT]   (from the repository root)
"""

import sys

import cv2
import numpy as np
import pandas as pd

from fer_core.config import data_dir
from fer_core.inference.detection import LBP_CASCADE_PATH, HaarFaceDetector, correct_box
from fer_core.data.face_crops import box_iou


def main(limit=1500):
    root = data_dir() / "keypoints"
    names = pd.read_csv(root / "training_frames_keypoints.csv").iloc[:limit, 0]
    haar = cv2.CascadeClassifier(HaarFaceDetector.cascade_path)
    lbp = cv2.CascadeClassifier(str(LBP_CASCADE_PATH))
    pairs = []
    for name in names:
        gray = cv2.imread(str(root / "training" / name), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            continue
        found_haar = haar.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(30, 30))
        found_lbp = lbp.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3, minSize=(30, 30))
        if len(found_haar) != 1 or len(found_lbp) != 1 or box_iou(found_haar[0], found_lbp[0]) < 0.3:
            continue
        pairs.append((found_lbp[0], found_haar[0]))
    offsets = np.array([((hx + hw / 2 - lx - lw / 2) / lw, (hy + hh / 2 - ly - lh / 2) / lw, hw / lw)
                        for (lx, ly, lw, lh), (hx, hy, hw, hh) in pairs])
    dx, dy, scale = np.median(offsets, axis=0)
    print(f"faces found by both: {len(pairs)} of {len(names)} images")
    print(f"LBP_BOX_CORRECTION = ({dx:.3f}, {dy:.3f}, {scale:.3f})  # dx, dy, scale")
    before = [box_iou(lbp_box, haar_box) for lbp_box, haar_box in pairs]
    after = [box_iou(correct_box(lbp_box, (dx, dy, scale)), haar_box) for lbp_box, haar_box in pairs]
    print(f"IoU with Haar: median {np.median(before):.3f} as found, {np.median(after):.3f} corrected "
          f"(10th percentile {np.percentile(before, 10):.3f} -> {np.percentile(after, 10):.3f})")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
