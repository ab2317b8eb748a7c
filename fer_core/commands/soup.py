"""``python -m fer_core soup``: a greedy model soup of runs of one architecture, as a new run record."""

import argparse
import json
import shlex
import sys

from fer_core.config import SOUP_BATCH_NORM_IMAGES

HELP = "average the weights of several models of one architecture (greedy model soup) into a run record"

DESCRIPTION = """\
Scores each model on the dataset's validation split, starts from the best,
and adds each next one to the mean of the weights only if the mean does not
score lower (Wortsman et al. 2022, "Model soups"); --uniform averages them
all. Batch-norm statistics of
every candidate are measured on the same training images (--batch-norm-images,
default 8,192; 0 = all). Models that
grew from one another (warm restarts, fine-tuning) average well; independently
trained ones do not.

Writes a run record (config.json naming the ingredients, model.keras,
metrics.json on the test split, ...) that `ship` and the dashboard read.

Exit status: 0 on success, 2 on an error (printed as one "error:" line)."""


def add_parser(subparsers):
    """Registers the ``soup`` subcommand."""
    parser = subparsers.add_parser("soup", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True, help=".keras models of one zoo architecture")
    parser.add_argument("--data", required=True, help="the dataset they were trained on")
    parser.add_argument("--run-dir", required=True, help="the run record folder to write")
    parser.add_argument("--batch-norm-images", type=int, default=SOUP_BATCH_NORM_IMAGES, metavar="N",
                        help="training images that measure batch-norm statistics (default 8192; 0 = all)")
    parser.add_argument("--uniform", action="store_true",
                        help="average all the models, with no greedy choice (a uniform soup)")
    parser.set_defaults(func=run)
    return parser


def run(args):
    """Makes the soup; returns the exit status."""
    from fer_core.runs.recording import make_soup_run

    words = ["soup", "--models", *args.models, "--data", args.data, "--run-dir", args.run_dir]
    if args.batch_norm_images != SOUP_BATCH_NORM_IMAGES:
        words += ["--batch-norm-images", str(args.batch_norm_images)]
    command = "python -m fer_core " + shlex.join(words + (["--uniform"] if args.uniform else []))
    metrics = make_soup_run(args.models, args.data, args.run_dir, command=command, uniform=args.uniform,
                            batch_norm_images=args.batch_norm_images)
    headline = {k: metrics[k] for k in ("accuracy", "macro_f1", "rmse", "n") if k in metrics}
    json.dump({"run_dir": args.run_dir, "kept": metrics["soup"]["models"], "val": metrics["soup"]["val"],
               **headline}, sys.stdout)
    print()
    return 0
