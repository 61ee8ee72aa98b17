"""The run report's command: ``python scripts/3b_report.py [NPY_DIR] [--out FILE] [--show N] [--processed DIR]`` (qa/report.py)."""
import sys
from pathlib import Path

from signpose.config import argument_parser, settings_from_args
from signpose.qa.report import USED, ReportError, build_report


def main(argv=None) -> int:
    parser = argument_parser('The run report: one HTML page and a CSV of every manifest row.')
    parser.add_argument('npy_dir', nargs='?', help='the output folder (default: NPY_DIR)')
    parser.add_argument('--out', help='the HTML file (default: NPY_DIR/report.html)')
    parser.add_argument('--show', type=int, default=8, help='flagged, worst and best segments shown (default 8 each)')
    parser.add_argument('--processed', metavar='DIR', help='a folder of processed copies (3b_smooth.py NPY_DIR DIR): '
                        'its method, what it filled, the quality before and after, its skeleton in the players')
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    npy_dir = Path(args.npy_dir or settings.NPY_DIR)
    if not npy_dir.is_dir():
        print(f'ERROR: {npy_dir} is not a folder: name the output folder of a run (NPY_DIR)', file=sys.stderr)
        return 2
    given = args.cfg_options or {}
    defaults = {k: getattr(settings, k) for k in USED}
    try:
        summary = build_report(npy_dir, args.out, max(0, args.show), manifest=given.get('CSV_FILE'),
                               video_dir=given.get('VIDEO_DIR'), defaults=defaults, processed=args.processed)
    except ReportError as err:
        print(f'ERROR: {err}', file=sys.stderr)
        return 2
    print(f'{summary["segments"]:,} segments ({summary["written"]:,} written, {summary["flagged"]:,} flagged, '
          f'{summary["missing"]} files gone, {summary["cut"]} cut lines, {summary["groups"]} provenance group(s)) -> '
          f'{summary["html"]} ({summary["html"].stat().st_size / 1024:.0f} kB), {summary["csv"]}')
    if summary['processed'] and summary['processed']['problem']:
        print(f"  processed copies: {summary['processed']['problem']}")
    for kind in summary['banners']:
        print(f'  red banner: {kind}')
    return 0
