"""``python -m fer_core submit``: a Kaggle Facial Keypoints Detection submission from a keypoint model."""

import argparse

import numpy as np

HELP = "write Kaggle's RowId,Location submission for the facial-keypoints competition"

DESCRIPTION = """\
Runs a keypoint model (.keras or .tflite; a shipped .keras runs the .tflite beside
it) on each face of Kaggle's test.csv (ImageId,Image: 96x96 grey faces, already
cropped, so no face detection) and writes the coordinates that IdLookupTable.csv
asks for as Kaggle's RowId,Location file, clipped to the 96x96 image.

Exit status: 0 on success, 2 on an error (printed as one "error:" line)."""


def add_parser(subparsers):
    """Registers the ``submit`` subcommand."""
    parser = subparsers.add_parser("submit", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="assets/models/keypoints.keras", help="a keypoint model (default: shipped)")
    parser.add_argument("--images", required=True, help="Kaggle's test.csv (ImageId,Image)")
    parser.add_argument("--lookup", required=True, help="Kaggle's IdLookupTable.csv (RowId,ImageId,FeatureName,...)")
    parser.add_argument("--out", required=True, help="the submission CSV to write (RowId,Location)")
    parser.set_defaults(func=run)
    return parser


def run(args):
    """Writes the submission; returns the exit status."""
    from pathlib import Path

    from fer_core.data.kaggle_submission import read_lookup, read_test_images, submission
    from fer_core.errors import FerStudioError, ModelError
    from fer_core.inference.runtime import KeypointRegressor
    from fer_core.storage import write_csv_atomic

    model = KeypointRegressor.from_path(args.model)
    if model.input_size != 96:
        raise ModelError(f"{args.model}: takes {model.input_size}x{model.input_size} faces; Kaggle's are 96x96")
    ids, images = read_test_images(args.images)
    lookup = read_lookup(args.lookup)
    points = np.concatenate([model.predict_crops(images[i:i + 256]) for i in range(0, len(images), 256)])
    try:
        write_csv_atomic(Path(args.out), submission(ids, points.reshape(len(ids), -1), lookup))
    except OSError as error:  # a folder there, no such place (/proc/x), no permission, ...
        raise FerStudioError(f"--out {args.out}: cannot write the submission ({error.strerror or error})") from None
    print(f"wrote {args.out}: {len(lookup):,} rows for {len(ids):,} images")
    return 0
