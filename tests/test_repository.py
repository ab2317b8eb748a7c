"""The weights policy (README): .ci/check_repository.py passes on this repository and catches violations."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "check_repository.py"


def load_check():
    spec = importlib.util.spec_from_file_location("check_repository", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def git(root, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True,
                   capture_output=True)


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_this_repository_follows_the_weights_policy():
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_check_catches_new_run_weights_and_large_files(tmp_path):
    check = load_check()
    git(tmp_path, "init", "-q")
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "check_repository.py").write_text(SCRIPT.read_text())
    (tmp_path / "assets" / "models").mkdir(parents=True)
    (tmp_path / "assets" / "models" / "emotion.keras").write_bytes(b"\0" * (check.MAX_BYTES + 1))
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "policy")
    assert check.tree_problems(tmp_path) == [] and check.history_problems(tmp_path) == []

    # a large file added and deleted again still counts (it stays in every clone)
    (tmp_path / "big.bin").write_bytes(b"\1" * (check.MAX_BYTES + 1))
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "big")
    git(tmp_path, "rm", "-q", "big.bin")
    git(tmp_path, "commit", "-q", "-m", "gone")
    assert [path for path, _ in check.history_problems(tmp_path)] == ["big.bin"]

    # a new run record's weights, however small, are refused before they are committed
    run = tmp_path / "assets" / "runs" / "new-run"
    run.mkdir(parents=True)
    (run / "model.keras").write_bytes(b"small")
    (run / "metrics.json").write_text("{}")
    git(tmp_path, "add", "-f", "-A")
    assert [path for path, _ in check.tree_problems(tmp_path)] == ["assets/runs/new-run/model.keras"]
