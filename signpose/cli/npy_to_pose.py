"""The command that converts the stage's .npy files to .pose files (pose-format): output/convert.py.

    python scripts/3b_npy_to_pose.py                      # every .npy in NPY_DIR
    python scripts/3b_npy_to_pose.py /data/npy --out /data/pose
    python scripts/3b_npy_to_pose.py a.npy b.npy --width 1280 --height 720
"""
import sys
from pathlib import Path

from signpose.config import Options, argument_parser, settings_from_args
from signpose.data.locate import SegmentVideos
from signpose.output.convert import FrameSizes, Unconvertible, convert, npy_files



def main(argv=None) -> int:
    parser = argument_parser('Convert stage 3b .npy files to .pose files (pose-format).')
    parser.add_argument('paths', nargs='*', metavar='PATH',
                        help='.npy files or folders of them (default: NPY_DIR)')
    parser.add_argument('--out', metavar='DIR', help='write the .pose files here (default: beside each .npy)')
    parser.add_argument('--width', type=int, help='frame width in pixels, for every file (with --height)')
    parser.add_argument('--height', type=int, help='frame height in pixels, for every file (with --width)')
    parser.add_argument('--fps', type=float, help='frame rate of the .npy frames (default: the sampled rate)')
    parser.add_argument('--overwrite', action='store_true', help='replace existing .pose files')
    args = parser.parse_args(argv)
    if (args.width is None) != (args.height is None):
        parser.error('give --width and --height together')
    for name in ('width', 'height', 'fps'):
        value = getattr(args, name)
        if value is not None and not value > 0:
            parser.error(f'--{name} must be positive')
    options = Options.of(settings_from_args(args))
    files, missing = npy_files(args.paths, options.output.folder)
    for path in missing:
        print(f'{path}: no such file or folder', file=sys.stderr)
    if not files:
        print('ERROR: no .npy files to convert', file=sys.stderr)
        return 2
    out_dir = Path(args.out) if args.out else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    videos = SegmentVideos(options.manifest, options.video_dir, options.sampling.video_backend)
    sizes = FrameSizes(videos, options.sampling, args.width, args.height, args.fps)
    converted, kept, failed = 0, 0, len(missing)
    for npy in files:
        out = (out_dir or npy.parent) / f'{npy.stem}.pose'
        if out.exists() and not args.overwrite:
            kept += 1
            continue
        try:
            convert(npy, out, sizes, options.output.rows.keypoints)
        except (Unconvertible, OSError) as err:
            print(f'{npy}: not converted: {err}', file=sys.stderr)
            failed += 1
            continue
        converted += 1
    print(f'{converted} converted, {kept} already there (--overwrite replaces them), {failed} not converted')
    return 1 if failed else 0
