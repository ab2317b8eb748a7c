"""The README's weights policy, checked on the repository (run by .ci/run and tests/test_repository.py).

1. Only the models the app ships (``assets/models/``) keep weights in git. A run record commits
   its config, history, metrics, predictions, model info and card, not ``model.keras``: the run
   records in ``WEIGHTS_KEPT`` committed theirs before this policy and keep them; no new ones.
2. No file over ``MAX_BYTES`` outside ``assets/models/`` (``WEIGHTS_KEPT`` excepted): neither in the
   tree nor added by any commit since this check was committed (a large file that a later commit
   deletes still weighs on every clone).

Standard library only. Exit status 0 when the repository follows the policy, 1 otherwise (each
offending file on a line).
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_BYTES = 5_000_000
SHIPPED = "assets/models/"
THIS_FILE = ".ci/check_repository.py"
# Run records whose model.keras was committed before the policy (2026-12-03); no other may be added.
WEIGHTS_KEPT = tuple(f"assets/runs/{name}/model.keras" for name in (
    "emotion_cnn-fer2013", "keypoint_cnn-keypoints", "keypoint_xception-keypoints", "lenet5-ckplus48",
    "mini_xception-fer2013", "resnet10-fer2013", "resnet10-fer2013-distill", "resnet10-fer2013-distill2",
    "resnet10-fer2013-gpu", "resnet10-fer2013-greedysoup", "resnet10-fer2013-restart",
    "resnet10-fer2013-restart2", "resnet10-fer2013-swa", "resnet10-fer2013-swa-weakaug",
    "resnet10-fer2013-swa-weakaug2", "resnet18-fer2013-gpu", "vgg_fer-fer2013"))


def git(*args, root=ROOT):
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def allowed_large(path):
    return path.startswith(SHIPPED) or path in WEIGHTS_KEPT


def is_run_weights(path):
    parts = path.split("/")
    return len(parts) == 4 and parts[:2] == ["assets", "runs"] and parts[3] == "model.keras"


def blob_sizes(object_ids, root=ROOT):
    """{object id: size in bytes} from ``git cat-file --batch-check``."""
    if not object_ids:
        return {}
    out = subprocess.run(["git", "cat-file", "--batch-check=%(objectname) %(objectsize)"], cwd=root, check=True,
                         capture_output=True, text=True, input="\n".join(object_ids) + "\n").stdout
    return {name: int(size) for name, size in (line.split() for line in out.splitlines() if line)}


def tree_problems(root=ROOT):
    """Offending files of the index (what the next commit holds): (path, reason) pairs."""
    entries = [line.split(None, 3) for line in git("ls-files", "-s", root=root).splitlines()]
    sizes = blob_sizes(sorted({sha for _, sha, _, _ in entries}), root)
    problems = []
    for _, sha, _, path in entries:
        if is_run_weights(path) and path not in WEIGHTS_KEPT:
            problems.append((path, "a run record's weights: only assets/models/ keeps weights in git"))
        elif sizes.get(sha, 0) > MAX_BYTES and not allowed_large(path):
            problems.append((path, f"{sizes[sha] / 1e6:.1f} MB, over {MAX_BYTES / 1e6:.0f} MB outside {SHIPPED}"))
    return problems


def history_problems(root=ROOT):
    """Files over the limit (outside the allowed places) that a commit since the policy added or changed."""
    first = git("log", "--diff-filter=A", "--format=%H", "--", THIS_FILE, root=root).split()
    if not first:
        return []  # the policy is not committed yet: the tree check covers the next commit
    try:
        commits = git("rev-list", f"{first[-1]}^..HEAD", root=root).split()
    except subprocess.CalledProcessError:  # a shallow clone without the policy's parent: from the policy on
        commits = git("rev-list", f"{first[-1]}..HEAD", root=root).split() + [first[-1]]
    problems = []
    for commit in commits:
        changed = []
        for line in git("diff-tree", "-r", "--no-commit-id", "--diff-filter=AM", commit, root=root).splitlines():
            meta, path = line.split("\t", 1)
            changed.append((meta.split()[3], path))
        sizes = blob_sizes(sorted({sha for sha, _ in changed}), root)
        problems += [(path, f"{sizes[sha] / 1e6:.1f} MB added by commit {commit[:10]}")
                     for sha, path in changed if sizes.get(sha, 0) > MAX_BYTES and not allowed_large(path)]
    return problems


def main():
    problems = tree_problems() + history_problems()
    for path, reason in problems:
        print(f"weights policy: {path}: {reason}")
    if not problems:
        print(f"weights policy: ok (no file over {MAX_BYTES / 1e6:.0f} MB outside {SHIPPED}, "
              f"no new run-record weights)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
