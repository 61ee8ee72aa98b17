"""The validator's command: ``python scripts/3b_validate.py [--show N] [--cfg-options ...]`` (qa/validate.py)."""
import sys

from signpose.config import Options, argument_parser, settings_from_args
from signpose.qa.validate import ValidationError, validate


def main(argv=None) -> int:
    parser = argument_parser('Check the stage 3b output (.npy files and ledger) against its contract.')
    parser.add_argument('--show', type=int, default=50, metavar='N',
                        help='list at most N failing files and N files with warnings (default 50)')
    args = parser.parse_args(argv)
    try:
        status, _, report = validate(Options.of(settings_from_args(args)), show=max(0, args.show))
    except ValidationError as err:
        print(f'ERROR: {err}', file=sys.stderr)
        return 2
    print(report)
    return status
