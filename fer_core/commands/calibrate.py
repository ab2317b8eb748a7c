"""``python -m fer_core calibrate``: a classifier's calibration and class-prior correction, measured."""

import argparse
import json

HELP = "fit a classifier's prior correction and temperature on the validation split; ECE before and after"

DESCRIPTION = """\
For a classifier (.keras or .tflite with its info file) and the dataset it was
trained on: chooses the power of the class-prior correction that gives the best
macro-F1 on the validation split, fits a temperature to the corrected
probabilities on the same split (negative log-likelihood), and reports on the
test split the accuracy before and after, the expected calibration error (15
bins) before and after the temperature, and the reliability bins. `ship` stores
the result in the shipped model's info file (output_adjustment), which the app
and `evaluate` apply.

Exit status: 0 on success, 2 on an error (printed as one "error:" line)."""


def add_parser(subparsers):
    """Registers the ``calibrate`` subcommand."""
    parser = subparsers.add_parser("calibrate", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a classifier: .keras or .tflite file with its info file")
    parser.add_argument("--data", required=True, help="the dataset it was trained on (e.g. fer2013, ferplus)")
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
    parser.set_defaults(func=run)
    return parser


def run(args):
    """Measures and prints; returns the exit status."""
    from fer_core.runs.calibration import calibrate_model

    result = calibrate_model(args.model, args.data)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    adjustment, report = result["output_adjustment"], result["calibration"]
    print(f"prior power {adjustment['prior_power']:.2f} (best macro-F1 on {result['val_split']}), "
          f"temperature {adjustment['temperature']:.3f}")
    print(f"{result['test_split']} (n={result['n']}): accuracy {100 * result['test_accuracy_raw']:.2f}% raw, "
          f"{100 * result['test_accuracy_adjusted']:.2f}% adjusted; ECE {report['ece_before']:.4f} raw, "
          f"{report['ece_after']:.4f} adjusted ({report['bins']} bins)")
    return 0
