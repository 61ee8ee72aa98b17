"""``signpose-smooth IN_DIR OUT_DIR``: short gaps filled and jitter smoothed, on copies of the
stage's files (signpose.trajectories; docs/trajectories.md).

Exit status: 0 every file processed (or copied unfiltered, being short), 1 some file skipped as
not a stage output (named on the console and in OUT_DIR/smoothing.json), 2 a usage problem
(IN_DIR missing, OUT_DIR equal to IN_DIR, a bad option), with one ``ERROR:`` line.
"""
import argparse
import sys

from signpose.trajectories.folder import RECORD_NAME, FolderError, smooth_folder
from signpose.trajectories.parts import PARTS
from signpose.trajectories.smoothing import (DEFAULT_FILLED_VISIBILITY, DEFAULT_FPS, DEFAULT_MAX_GAP, DEFAULT_METHOD,
                                             DEFAULT_SCORE_FLOOR, METHODS, Smoothing)


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one ERROR: line and status 2, as every usage problem here
        self.print_usage(sys.stderr)
        print(f'ERROR: {message}', file=sys.stderr)
        sys.exit(2)


def parse_part_setting(text: str):
    """'hands.window=7' -> ('hands', 'window', '7')."""
    try:
        key, value = text.split('=', 1)
        part, name = key.split('.', 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not PART.SETTING=VALUE (e.g. hands.window=7)') from None
    return part, name, value


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog='signpose-smooth', description=(
        'Fill short gaps and smooth the trajectories of the stage\'s .npy (and .pose) files, writing '
        'processed copies to OUT_DIR (never in place), with filled/{SENTENCE}.npy masks of the filled '
        f'values and a record, {RECORD_NAME}. The defaults are the recommended processing.'))
    parser.add_argument('in_dir', metavar='IN_DIR', help='the stage\'s output folder (NPY_DIR); read only')
    parser.add_argument('out_dir', metavar='OUT_DIR', help='where the processed copies go (not IN_DIR)')
    parser.add_argument('--method', choices=METHODS, default=DEFAULT_METHOD,
                        help=f'savgol: weighted Savitzky-Golay, zero-phase (default); oneeuro: One Euro, causal; '
                             f'oneeuro2: One Euro forward then backward (no lag); none: fill gaps only')
    parser.add_argument('--max-gap', type=int, default=DEFAULT_MAX_GAP, metavar='FRAMES',
                        help=f'longest gap filled, in frames (default {DEFAULT_MAX_GAP}: 0.25 s at 24 fps; 0: none)')
    parser.add_argument('--score-floor', type=float, default=DEFAULT_SCORE_FLOOR, metavar='V',
                        help=f'a point with visibility below V counts as missing (default {DEFAULT_SCORE_FLOOR})')
    parser.add_argument('--fill', choices=('pchip', 'linear'), default='pchip',
                        help='interpolation of a gap: shape-preserving cubic (default) or straight line')
    parser.add_argument('--filled-visibility', type=float, default=DEFAULT_FILLED_VISIBILITY, metavar='F',
                        help='visibility of a filled point: F x the lower of its two neighbours\' '
                             f'(default {DEFAULT_FILLED_VISIBILITY}; 0 hides filled points from a visibility threshold)')
    parser.add_argument('--no-weights', action='store_true', help='do not weight the filters by visibility')
    parser.add_argument('--fps', type=float, default=DEFAULT_FPS,
                        help=f'frame rate of the .npy files, for One Euro (default {DEFAULT_FPS:g}; a .pose '
                             'uses its own)')
    parser.add_argument('--set', dest='part_settings', action='append', default=[], type=parse_part_setting,
                        metavar='PART.SETTING=VALUE',
                        help=f'a per-part setting of the method, e.g. hands.window=7 or hands.beta=100 '
                             f'(parts: {", ".join(PARTS)}); repeatable')
    parser.add_argument('--quiet', action='store_true', help='only the summary')
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    parts = {}
    for part, name, value in args.part_settings:
        parts.setdefault(part, {})[name] = value
    smoothing = Smoothing(method=args.method, max_gap=args.max_gap, score_floor=args.score_floor, fill=args.fill,
                        filled_visibility=args.filled_visibility, weighted=not args.no_weights, fps=args.fps,
                        parts=parts or None)
    try:
        record = smooth_folder(args.in_dir, args.out_dir, smoothing, log=None if args.quiet else print)
    except (FolderError, ValueError) as err:
        print(f'ERROR: {err}', file=sys.stderr)
        return 2
    summary = record['summary']
    print(f"{summary['files']} files: {summary['processed']} processed, {summary['copied unfiltered']} copied "
          f"unfiltered (short), {summary['bad']} bad; {summary['points_filled']} points filled in "
          f"{summary['gaps_filled']} gaps, {summary['gaps_left']} gaps left -> {args.out_dir}/{RECORD_NAME}")
    for entry in record['files']:
        if entry['status'] == 'bad':
            print(f"SKIPPED {entry['file']}: {entry['reason']}", file=sys.stderr)
    return 1 if summary['bad'] else 0
