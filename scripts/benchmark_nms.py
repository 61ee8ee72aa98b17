#!/usr/bin/env python
"""Benchmark: the time per call of mmcv's ``nms`` op, the project's (mmcv-lite) or any other.

    python scripts/benchmark_nms.py                          # the project's mmcv._ext
    python scripts/benchmark_nms.py --op git:HEAD~1 mmcv._ext   # a committed version against this one
    python scripts/benchmark_nms.py --op mmcv._ext my_compiled_nms --repeat 9

Inputs: the frame that scripts/benchmark_3b.py's calibrated seeded RTMDet-M hands to NMS on a
640x480 video (the person class on all 8,400 anchors, about 3,000 clutter candidates of four other
classes; more than mmcv's ``split_thr`` of 10,000 in all, so ``batched_nms`` calls NMS once per
class: 5 calls a frame, IoU threshold 0.65), and the 308 recorded box sets of
tests/fixtures/nms_reference.npz, by kind. Each op's result must equal the recording on those
sets, and the first op's result on the frame. Prints the fastest of ``--repeat`` passes (the machine
may be shared: the minimum is the figure that says most) in ms per call, per frame and per pass.

``--op``: modules with mmcv's ``nms(boxes, scores, iou_threshold, offset)`` (positional), or
``git:REV``, the project's mmcv_ext.py at that revision. ``mmcv._ext`` is the
compiled op where mmcv has its ops, else the project's.
"""
import argparse
import importlib
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import signpose  # noqa: F401  (puts the project's mmcv._ext in place under mmcv-lite)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test aids are not installed
from tests.support.anchor_boxes import rtmdet_anchor_boxes  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / 'tests' / 'fixtures' / 'nms_reference.npz'
KINDS = ('random', 'ties', 'at-threshold', 'degenerate', 'all-suppressed', 'thousands-0', 'thousands-1',
         'thousands-2')


def load_op(name: str):
    """A module with ``nms``: an importable name, or ``git:REV`` (the project's file at REV)."""
    if not name.startswith('git:'):
        return importlib.import_module(name)
    rev = name[4:]
    for where in ('signpose/install/mmcv_ext.py', 'signpose/nets/mmcv_ext.py'):  # moved to install/ in 0.5
        shown = subprocess.run(['git', 'show', f'{rev}:{where}'], cwd=ROOT, capture_output=True, text=True)
        if shown.returncode == 0:
            break
    shown.check_returncode()
    text = shown.stdout
    path = Path(tempfile.mkdtemp()) / f'mmcv_ext_{rev.replace("/", "_").replace("~", "_")}.py'
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def benchmark_frame(seed: int = 0):
    """The NMS calls of one frame of scripts/benchmark_3b.py (seeded RTMDet-M calibrated to ~20
    persons above BBOX_THR and ~3,000 clutter candidates above score_thr, 640x480 in a 640x640
    input): one box per anchor (RTMDet's boxes are shared by the classes), about twice the stride
    wide, on the three levels' grids; the person class scores every anchor above score_thr, the
    clutter classes some anchors of one level each; each class's boxes moved apart by
    ``batched_nms``'s offset (class index x (largest coordinate + 1)). As recorded from the
    benchmark: 8,400 + 1,560 + 1,004 + 400 + 76 candidates, nearly all kept."""
    rng = np.random.default_rng(seed)
    anchors = rtmdet_anchor_boxes(rng)
    s8, s16, s32 = np.arange(6400), 6400 + np.arange(1600), 8000 + np.arange(400)
    classes = [(0, s8.tolist() + s16.tolist() + s32.tolist(), (0.2354, 0.3014)),
               (21, rng.choice(s16, 1560, replace=False), (0.001, 0.00108)),
               (40, rng.choice(s8, 1004, replace=False), (0.001, 0.00107)),
               (61, s32, (0.001, 0.00106)),
               (79, rng.choice(s32, 76, replace=False), (0.001, 0.00105))]
    calls = []
    for label, picked, (low, high) in classes:
        boxes = anchors[np.sort(picked)] + np.float32(label * 641.0)
        scores = rng.uniform(low, high, len(boxes)).astype(np.float32)
        calls.append((np.ascontiguousarray(boxes), scores, 0.65, 0))
    return calls


def recorded_sets():
    data = np.load(FIXTURE)
    count = sum(1 for key in data.files if key.endswith('/keep'))
    return [(str(data[f'{k}/name']), data[f'{k}/boxes'], data[f'{k}/scores'], float(data[f'{k}/threshold']),
             int(data[f'{k}/offset']), data[f'{k}/keep']) for k in range(count)]


def time_calls(op, calls, repeat: int) -> float:
    """Fastest of ``repeat`` passes over ``calls`` (tensors made beforehand), in seconds."""
    tensors = [(torch.from_numpy(b), torch.from_numpy(s), t, o) for b, s, t, o in calls]
    best = float('inf')
    for _ in range(repeat):
        start = time.perf_counter()
        for boxes, scores, threshold, offset in tensors:
            op.nms(boxes, scores, threshold, offset)
        best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--op', nargs='+', default=['mmcv._ext'],
                        help='modules with nms, or git:REV for the project\'s file at REV (default mmcv._ext)')
    parser.add_argument('--repeat', type=int, default=5, help='passes per case; the fastest is reported')
    args = parser.parse_args()
    ops = [(name, load_op(name)) for name in args.op]
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads; ops: '
          + ', '.join(f'{name} ({getattr(op, "__file__", "?")})' for name, op in ops))

    frame = benchmark_frame()
    sets = recorded_sets()
    # the same results first: the recording on its sets, the first op's on the frame
    first = None
    for name, op in ops:
        for set_name, boxes, scores, threshold, offset, keep in sets:
            got = op.nms(torch.from_numpy(boxes), torch.from_numpy(scores), threshold, offset).numpy()
            assert np.array_equal(got, keep), f'{name} differs from the recording on {set_name}'
        kept = [op.nms(torch.from_numpy(b), torch.from_numpy(s), t, o).numpy() for b, s, t, o in frame]
        first = first or kept
        assert all(np.array_equal(a, b) for a, b in zip(kept, first)), f'{name} differs from {ops[0][0]} on the frame'
    print(f'all equal: the recording on its {len(sets)} sets, {ops[0][0]} on the frame')

    cases = [('benchmark frame, per frame', frame),
             *[(f'  its call of {len(c[0]):,} boxes', [c]) for c in frame]]
    for kind in KINDS:
        chosen = [s[1:5] for s in sets if s[0].startswith(kind)]
        boxes = sum(len(s[0]) for s in chosen)
        cases.append((f'recorded {kind} ({len(chosen)} sets, {boxes:,} boxes), per set', chosen))
    cases.append((f'recorded, all {len(sets)} sets, per pass', [s[1:5] for s in sets]))

    width = max(len(name) for name, _ in cases)
    print(f'{"ms (fastest of " + str(args.repeat) + ")":<{width}}  ' + '  '.join(f'{name:>14}' for name, _ in ops))
    for name, calls in cases:
        per = len(calls) if 'per set' in name else 1
        figures = [1e3 * time_calls(op, calls, args.repeat) / per for _, op in ops]
        print(f'{name:<{width}}  ' + '  '.join(f'{f:>14.2f}' for f in figures))
    return 0


if __name__ == '__main__':
    sys.exit(main())
