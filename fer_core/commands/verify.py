"""``python -m fer_core verify``: every run record's and shipped model's test figure, measured again."""

import argparse
import json

HELP = "evaluate every run record and shipped model again and compare with the figures they state"

DESCRIPTION = """\
For each finished run record under --runs with its weights (model.keras +
metrics.json), evaluates model.keras on the test split named in metrics.json, as
`python -m fer_core evaluate` does, and compares with the recorded accuracy or RMSE
(the figures the README and the model cards quote). A run record committed without
weights (the README's weights policy) is checked for consistency instead: its figure
is computed again from its predictions.csv and the dataset's labels; each line says
which of the two was done. Each shipped model under --models (NAME.keras) is compared
with the run record its NAME.model_info.json names. Accuracy may differ by 2 test
images (float rounding across CPUs), RMSE by 0.002 px.

Exit status: 0 when every figure agrees, 1 when one does not or could not be
measured (its dataset missing, say), 2 on an error."""


def add_parser(subparsers):
    """Registers the ``verify`` subcommand."""
    parser = subparsers.add_parser("verify", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="*", default=["assets/runs"], metavar="DIR",
                        help="folders of run records (default assets/runs)")
    parser.add_argument("--models", nargs="*", default=["assets/models"], metavar="DIR",
                        help="folders of shipped models (default assets/models)")
    parser.add_argument("--json", action="store_true", help="print one JSON list")
    parser.set_defaults(func=run)
    return parser


def run(args):
    """Checks the records; returns the exit status."""
    from pathlib import Path

    from fer_core.runs.verification import (EVALUATED, finished_run_records, verify_finished_run,
                                            verify_shipped_adjustment, verify_shipped_model)

    targets = [(verify_finished_run, path) for path in finished_run_records(args.runs)]
    shipped = [path for folder in args.models for path in sorted(Path(folder).glob("*.keras"))]
    targets += [(check, path) for path in shipped for check in (verify_shipped_model, verify_shipped_adjustment)]
    checks = []
    for number, (verify, path) in enumerate(targets, 1):
        check = verify(path)
        if check is None:
            continue
        checks.append(check)
        if not args.json:
            measured = "not measured" if check.measured is None else f"{check.measured:.4f}"
            print(f"[{number}/{len(targets)}] {'ok  ' if check.ok else 'FAIL'} {check.name}: {check.metric} on "
                  f"{check.data} {check.split} recorded {check.recorded:.4f}, measured {measured} [{check.method}]"
                  + (f" ({check.note})" if check.note else ""), flush=True)
    if args.json:
        print(json.dumps([check.as_dict() for check in checks], indent=2))
    else:
        failed = sum(not check.ok for check in checks)
        evaluated = sum(check.method == EVALUATED for check in checks)
        print(f"{len(checks) - failed} of {len(checks)} figures agree ({evaluated} by evaluating the model again, "
              f"{len(checks) - evaluated} from recorded predictions)")
    return 0 if checks and all(check.ok for check in checks) else 1
