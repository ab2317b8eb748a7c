"""``python -m fer_core audit DATASET``: duplicates, leaks, conflicting labels, blank images, label noise."""

import argparse
import json

HELP = "find duplicates, test images copied from training, conflicting labels, blank images and label noise"

DESCRIPTION = """\
Audits a dataset (any name `python -m fer_core datasets` lists, or folder:PATH):
exact duplicates (MD5 of the pixels) and the groups among them whose labels
disagree; test and validation images that are exact copies of training images
(`evaluate` gives the accuracy without them as leak_free); near duplicates (a
64-bit perceptual hash within 4 bits, exact copies and blank images left out)
within and across splits; blank images (one value everywhere); counts per class
and split. FER2013 is also set against the ten FER+ annotators' votes of the
same images (when ferplus is found): how many labels their majority does not
share, by class pair ("sad -> neutral": labelled sad, annotators say neutral).

Exit status: 0 on success, 2 on an error (printed as one "error:" line)."""


def add_parser(subparsers):
    """Registers the ``audit`` subcommand."""
    parser = subparsers.add_parser("audit", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="a dataset name (fer2013, ferplus, ckplus48, keypoints, folder:PATH, ...)")
    parser.add_argument("--fold", type=int, default=0, help="test fold of k-fold datasets (default 0)")
    parser.add_argument("--folds", type=int, default=10, help="number of folds (default 10)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.set_defaults(func=run)
    return parser


def votes_for(name):
    """(vote shares, vote names) of FER+ for fer2013's rows, or (None, None) for another dataset or
    when FER+ is not found."""
    from fer_core.config import FERPLUS_EMOTIONS
    from fer_core.data import dataset_path, load_dataset

    if name != "fer2013" or dataset_path("ferplus") is None:
        return None, None
    return load_dataset("ferplus").soft_labels, FERPLUS_EMOTIONS


def run(args):
    """Audits and prints; returns the exit status."""
    from fer_core.data import load_dataset
    from fer_core.data.audit import audit_dataset

    dataset = load_dataset(args.dataset, fold=args.fold, folds=args.folds)
    votes, vote_names = votes_for(args.dataset)
    report = audit_dataset(dataset, votes, vote_names)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    near = report["near_duplicate_pairs"]
    print(f"{report['dataset']}: {report['samples']:,} samples")
    print(f"  exact duplicate groups: {report['exact_duplicate_groups']:,} ({report['rows_in_exact_duplicate_groups']:,} "
          f"rows; {report['duplicate_groups_across_splits']:,} groups span splits, "
          f"{report['conflicting_label_groups']:,} disagree on the label)")
    for split, count in report["test_rows_with_training_copy"].items():
        print(f"  {split}: {count:,} images are exact copies of training images")
    print(f"  near duplicates (pHash within {report['near_duplicate_max_bits']} bits): {near['within_split']:,} pairs "
          f"within a split, {near['across_splits']:,} across splits")
    print(f"  blank images: {report['blank_images']:,}")
    noise = report.get("label_noise")
    if noise:
        top = ", ".join(f"{pair} {count:,}" for pair, count in list(noise["pairs"].items())[:5])
        print(f"  label noise: {noise['label_differs_from_majority']:,} of {noise['rows_with_votes']:,} labels differ "
              f"from the FER+ annotators' majority ({top}, ...)")
    return 0
