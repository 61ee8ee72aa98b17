"""Download the detector and pose checkpoints (and the hand model's, when HAND_MODEL_CONFIG is set) the config names (the stage and the API also do it
on first use): ``python scripts/download_models.py [--force] [--trust FILE]``."""
import sys
from pathlib import Path

from signpose.config import Options, argument_parser, settings_from_args
from signpose.install.checkpoints import trust
from signpose.install.download import DownloadError, fetch_checkpoint


def main(argv=None) -> int:
    parser = argument_parser('Download the detector and pose checkpoints that configs/extract_mmpose.py names.')
    parser.add_argument('--trust', metavar='FILE', help='record FILE\'s SHA-256 as trusted and exit')
    parser.add_argument('--force', action='store_true', help='download even if the file exists')
    args = parser.parse_args(argv)
    if args.trust:
        if not Path(args.trust).is_file():
            print(f'ERROR: no such file: {args.trust}', file=sys.stderr)
            return 2
        print(f'trusted {args.trust} (SHA-256 {trust(args.trust)})')
        return 0
    models = Options.of(settings_from_args(args)).models
    status = 0
    for prefix, files in models.files():
        try:
            print(fetch_checkpoint(files.link, files.checkpoint, force=args.force,
                                   setting=f'{prefix}_MODEL_CHECKPOINT'))
        except DownloadError as err:  # the stage's own line and status for a checkpoint it cannot have
            print(f'ERROR: {err}', file=sys.stderr)
            status = 2
    return status
