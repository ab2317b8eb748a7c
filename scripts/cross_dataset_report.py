"""FER2013 validation and test accuracy beside CK+48 accuracy, for every emotion model with its weights here.

Rows: the shipped emotion models (assets/models) and each run record under assets/runs whose
``model.keras`` is on this machine (run records commit no weights unless shipped, so on a fresh
clone only the shipped models and the records trained there appear), then the average of the
probabilities of every 7-class FER2013 model among them. Every figure is the model's own
probabilities (``evaluate --raw``); CK+48 counts the images of classes the model knows. The last
line is Spearman's rho between FER2013 validation accuracy (what selects models) and CK+48
accuracy (the cross-dataset check, never used to select).

Usage (from the repository root):

    FER_DATA_DIR=../shared/data .venv/bin/python scripts/cross_dataset_report.py [--json FILE]
"""

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from fer_core.config import ASSETS_DIR  # noqa: E402
from fer_core.runs.generalisation import generalisation_table, rank_correlation  # noqa: E402
from fer_core.runs.records import load_runs  # noqa: E402
from fer_core.storage import file_sha256  # noqa: E402

SHIPPED = ("emotion", "emotion_ferplus")


def emotion_models():
    """{row name: model file}: the shipped emotion models, then the run records with weights, by name (a
    record whose weights are a shipped model's is named after it: "resnet10-ferplus = emotion_ferplus")."""
    shipped = {name: ASSETS_DIR / "models" / f"{name}.keras" for name in SHIPPED}
    digests = {file_sha256(path): name for name, path in shipped.items() if path.is_file()}
    models = {}
    for record in sorted(load_runs([ASSETS_DIR / "runs"]), key=lambda record: record.name):
        if record.model_path and record.task == "classification" and record.dataset_name in ("fer2013", "ferplus"):
            same = digests.pop(file_sha256(record.model_path), None)
            models[f"{record.name} = {same}" if same else record.name] = record.model_path
    return {**{f"shipped: {name}": shipped[name] for name in digests.values()}, **models}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", metavar="FILE", help="also write the rows and rho as JSON")
    args = parser.parse_args()
    rows = generalisation_table(emotion_models(), data="fer2013", check="ckplus48")
    print(f"{'model':40s} {'FER2013 val':>11s} {'test':>7s} {'CK+48':>7s} {'n':>5s}")
    for row in rows:
        print(f"{row['name']:40s} {100 * row['val']:10.2f}% {100 * row['test']:6.2f}% {100 * row['check']:6.2f}% "
              f"{row['check_n']:5d}")
    rho = rank_correlation(rows)
    print(f"Spearman's rho, FER2013 validation accuracy against CK+48 accuracy: "
          f"{'n/a (fewer than 3 models)' if rho is None else f'{rho:+.2f}'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "spearman_val_check": rho}, indent=1))


if __name__ == "__main__":
    main()
