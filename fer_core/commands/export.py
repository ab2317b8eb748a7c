"""``python -m fer_core export``: a trained .keras model to float32 or int8 TFLite, then scored."""

import argparse
import contextlib
import re
import warnings

from fer_core.errors import filtered_native_stderr

# What TensorFlow's TFLite converter prints on stderr for an int8 model with integer inputs, every time.
QUANTIZER_LINE = re.compile(rb"fully_quantize: \d+, inference_type: \d+, input_inference_type: \w+, "
                            rb"output_inference_type: \w+$")
QUANTIZER_WARNING = "Statistics for quantized inputs were expected, but not specified"

HELP = "export a .keras model to TFLite (float32 or full int8) and compare it with the Keras model"

DESCRIPTION = """\
Converts a trained Keras model to TensorFlow Lite for fast inference, then
prints the accuracy (classifier) or RMSE in input pixels (keypoint model) of the
TFLite model next to the Keras model on the dataset's test split, and both file
sizes.

--int8 makes a full-integer model (int8 weights, activations, input and
output), calibrated on images of the training split. The dataset is the one
named in model_info.json beside the model, or --dataset.

Exit status: 0 on success, 2 on an error (printed as one "error:" line)."""


def add_parser(subparsers):
    """Registers the ``export`` subcommand."""
    parser = subparsers.add_parser("export", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="the trained .keras model")
    parser.add_argument("--out", required=True, help="the .tflite file to write")
    parser.add_argument("--int8", action="store_true", help="full-integer quantization (int8 in/out)")
    parser.add_argument("--dataset", help="dataset for calibration and scoring (default: from model_info.json)")
    parser.add_argument("--calibration-count", type=int, default=300, metavar="N",
                        help="training images used to calibrate int8 (default 300)")
    parser.add_argument("--eval-limit", type=int, metavar="N",
                        help="score on at most N test samples (default: the whole test split)")
    parser.add_argument("--no-eval", action="store_true", help="convert only, do not score")
    parser.set_defaults(func=run)
    return parser


@contextlib.contextmanager
def quiet_converter():
    """Keeps the TFLite converter's routine int8 lines (``QUANTIZER_LINE``, ``QUANTIZER_WARNING``) off stderr:
    the int8 model's inputs are integers on purpose (``training.export``). Other lines are kept."""
    with filtered_native_stderr(QUANTIZER_LINE), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=re.escape(QUANTIZER_WARNING), category=UserWarning)
        yield


def run(args):
    """Runs the export; returns the exit status."""
    from fer_core.errors import FerStudioError, writable_file_problem
    from fer_core.training.export import export_model

    problem = writable_file_problem(args.out)
    if problem:
        raise FerStudioError(f"--out {args.out}: {problem}")
    with quiet_converter():
        report = export_model(args.model, args.out, int8=args.int8, dataset=args.dataset,
                              calibration_count=args.calibration_count, evaluate=not args.no_eval,
                              eval_limit=args.eval_limit)
    for line in report.lines():
        print(line)
    return 0
