#!/usr/bin/env python
"""Download the detector and pose checkpoints that configs/extract_mmpose.py names.

    python scripts/download_models.py                 # DET_ and POSE_MODEL_CHECKPOINT
    python scripts/download_models.py --trust FILE    # trust a checkpoint you got elsewhere

Each file is checked against the SHA-256 prefix in its official name and written atomically.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signpose.checkpoints import trust  # noqa: E402
from signpose.download import DownloadError, fetch_checkpoint  # noqa: E402
from signpose.settings import argument_parser, settings_from_args  # noqa: E402


def main(argv=None) -> int:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument('--trust', metavar='FILE', help='record FILE\'s SHA-256 as trusted and exit')
    parser.add_argument('--force', action='store_true', help='download even if the file exists')
    args = parser.parse_args(argv)
    if args.trust:
        if not Path(args.trust).is_file():
            print(f'ERROR: no such file: {args.trust}', file=sys.stderr)
            return 2
        print(f'trusted {args.trust} (SHA-256 {trust(args.trust)})')
        return 0
    settings = settings_from_args(args)
    status = 0
    for kind in ('DET', 'POSE'):
        url = getattr(settings, f'{kind}_MODEL_CHECKPOINT_LINK')
        destination = getattr(settings, f'{kind}_MODEL_CHECKPOINT')
        try:
            print(fetch_checkpoint(url, destination, force=args.force))
        except DownloadError as err:
            print(f'ERROR: {err}', file=sys.stderr)
            status = 1
    return status


if __name__ == '__main__':
    sys.exit(main())
