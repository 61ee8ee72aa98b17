#!/usr/bin/env python
"""Gap filling and smoothing measured on synthetic signing with a known truth (no model, no video).

    python scripts/benchmark_smoothing.py                 # 40 segments of 8 s, every method
    python scripts/benchmark_smoothing.py --segments 10 --markdown

For each method and setting, over segments drawn by tests/support/synthetic_signing.py (24 fps,
wrists and fingers signing, noise growing as the confidence falls, frames and hands dropped):
    torso/elbows/face/hands px
                        mean x, y error against the truth, in pixels of a 1280 x 720 frame, over
                        the points the input measured (visibility >= the score floor); 'raw' is
                        the input itself
    z cm                the same for z (hands), in centimetres
    lag                 the delay of the wrist in fast movements (truth faster than 900 px/s), in
                        frames: the shift of the truth that best matches the output there (mean
                        over segments and hands; + is late); 'lag max' the largest
    filled              share of the points in short gaps (bounded, <= max gap) that were filled
    fill px             x, y error of the filled points
    long kept           share of the points in long gaps (a hand dropped 12-30 frames) left exactly
                        as the input (no value invented)
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/support: the generator

from signpose.trajectories import gaps as gaps_mod  # noqa: E402
from signpose.trajectories.smoothing import DEFAULT_MAX_GAP, DEFAULT_SCORE_FLOOR, smooth_array  # noqa: E402
from tests.support import synthetic_signing as synth  # noqa: E402

PARTS = {'torso': [0, 1, 4, 5], 'elbows': [2, 3], 'face': synth.FACE, 'hands': range(43, 85)}  # rows
SETTINGS = [  # (label, smooth_array keyword arguments); None: the raw input
    ('raw input', None),
    ('fill only (none)', dict(method='none')),
    ('savgol (default)', dict()),
    ('savgol unweighted', dict(weighted=False)),
    ('savgol hands 7/2', dict(parts={'hands': {'window': 7, 'polyorder': 2}})),
    ('savgol hands 9/3', dict(parts={'hands': {'window': 9, 'polyorder': 3}})),
    ('savgol torso 9/2', dict(parts={'torso': {'window': 9, 'polyorder': 2}})),
    ('savgol elbows 7/2', dict(parts={'elbows': {'window': 7, 'polyorder': 2}})),
    ('savgol fill linear', dict(fill='linear')),
    ('oneeuro', dict(method='oneeuro')),
    ('oneeuro unweighted', dict(method='oneeuro', weighted=False)),
    ('oneeuro hands 3/50', dict(method='oneeuro', parts={'hands': {'min_cutoff': 3.0, 'beta': 50.0}})),
    ('oneeuro2 (fwd-bwd)', dict(method='oneeuro2')),
    ('oneeuro2 unweighted', dict(method='oneeuro2', weighted=False)),
]


def xy_error(array, truth, mask):
    d = (array[..., :2].astype(np.float64) - truth[..., :2]) * synth.FRAME
    return np.linalg.norm(d, axis=-1)[mask]


def lag(output, seg, hand: int) -> float:
    """The shift of the truth (frames, 0.05 steps) that best matches the output at the fast frames."""
    wrist = synth.LEFT_WRIST if hand == 0 else synth.RIGHT_WRIST
    frames = np.flatnonzero(seg.fast[:, hand] & ~seg.dropped[:, wrist])
    if len(frames) < 3:
        return np.nan
    t = np.arange(len(seg.truth))
    best, best_err = 0.0, np.inf
    for shift in np.arange(-3, 3.001, 0.05):
        shifted = np.stack([np.interp(frames - shift, t, seg.truth[:, wrist, c]) for c in range(2)], axis=1)
        err = (((output[frames, wrist, :2] - shifted) * synth.FRAME) ** 2).sum(axis=1).mean()
        if err < best_err:
            best, best_err = shift, err
    return best


def evaluate(segments, kwargs):
    sums = {key: [] for key in (*PARTS, 'z', 'lag', 'filled', 'fill', 'long', 'seconds')}
    max_gap = (kwargs or {}).get('max_gap', DEFAULT_MAX_GAP)
    for seg in segments:
        started = time.perf_counter()
        if kwargs is None:
            out, filled = seg.observed, np.zeros(seg.dropped.shape, bool)
        else:
            out, filled = smooth_array(seg.observed, **kwargs)
        sums['seconds'].append(time.perf_counter() - started)
        missing = gaps_mod.missing_points(seg.observed, DEFAULT_SCORE_FLOOR)
        measured = ~missing
        for part, rows in PARTS.items():
            mask = np.zeros_like(measured)
            mask[:, rows] = measured[:, rows]
            sums[part].append(xy_error(out, seg.truth, mask))
        hands = np.zeros_like(measured)
        hands[:, 43:] = measured[:, 43:]
        sums['z'].append(np.abs(out[..., 2] - seg.truth[..., 2])[hands] * 100)
        for hand in (0, 1):
            sums['lag'].append([lag(out, seg, hand)])
        short = np.zeros_like(missing)
        for gap in gaps_mod.find_gaps(missing):
            if gap.bounded and gap.length <= max_gap:
                short[gap.start:gap.stop, gap.point] = True
        sums['filled'].append([filled[short].sum(), short.sum()])
        sums['fill'].append(xy_error(out, seg.truth, filled & short))
        for first, start, stop in seg.long_drops:
            region = (slice(start, stop), slice(first, first + 21))
            same = np.all(out[region] == seg.observed[region], axis=-1)
            sums['long'].append(same.ravel())
    cat = {key: np.concatenate([np.atleast_1d(np.asarray(v, float)) for v in values]) if key != 'filled' else
           np.asarray(values, float) for key, values in sums.items()}
    lags = cat['lag'][np.isfinite(cat['lag'])]
    filled_share = cat['filled'][:, 0].sum() / max(1, cat['filled'][:, 1].sum())
    return dict(**{part: cat[part].mean() for part in PARTS}, z=cat['z'].mean(),
                lag=lags.mean(), lag_max=np.abs(lags).max(), filled=filled_share,
                fill=cat['fill'].mean() if len(cat['fill']) else np.nan, long=cat['long'].mean(),
                ms=1000 * np.mean(cat['seconds']))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--segments', type=int, default=40, help='segments to draw (default 40)')
    parser.add_argument('--seconds', type=float, default=8.0, help='length of each (default 8 s)')
    parser.add_argument('--noise', type=float, default=1.0, help='noise scale (default 1)')
    parser.add_argument('--markdown', action='store_true', help='a Markdown table')
    args = parser.parse_args(argv)
    segments = [synth.make_segment(seed, seconds=args.seconds, noise=args.noise) for seed in range(args.segments)]
    columns = ['setting', *(f'{part} px' for part in PARTS), 'hands z cm', 'lag', 'lag max', 'filled', 'fill px',
               'long kept', 'ms/seg']
    rows = []
    for label, kwargs in SETTINGS:
        r = evaluate(segments, kwargs)
        rows.append([label, *(f"{r[part]:.2f}" for part in PARTS), f"{r['z']:.2f}",
                     f"{r['lag']:+.2f}", f"{r['lag_max']:.2f}", f"{100 * r['filled']:.0f}%",
                     '-' if not np.isfinite(r['fill']) else f"{r['fill']:.1f}", f"{100 * r['long']:.0f}%",
                     f"{r['ms']:.0f}"])
    print(f'{args.segments} synthetic segments of {args.seconds:g} s at {synth.FPS:g} fps, noise x{args.noise:g}; '
          f'errors over the measured points (visibility >= {DEFAULT_SCORE_FLOOR})')
    if args.markdown:
        print('| ' + ' | '.join(columns) + ' |')
        print('|' + '---|' * len(columns))
        for row in rows:
            print('| ' + ' | '.join(row) + ' |')
    else:
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
        print('  '.join(c.ljust(w) for c, w in zip(columns, widths)))
        for row in rows:
            print('  '.join(v.ljust(w) for v, w in zip(row, widths)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
