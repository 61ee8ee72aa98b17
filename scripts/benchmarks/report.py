"""Benchmark: the run report on a ledger of YouTube-ASL's size (610,193 segments, as the start-up
benchmark's manifest), with a quality record on every written line.

    python scripts/benchmark_report.py [--rows 610193]

Prints the time to build the page and the CSV, and their sizes. The quality values are drawn at
random; the best and worst segments have real .npy files (their thumbnails are drawn without a
video: the manifest is not there).
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from signpose.config import load_settings
from signpose.qa.report import build_report

YOUTUBE_ASL_SEGMENTS = 610_193


def write_ledger(folder: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    encoder = json.JSONEncoder()
    with open(folder / 'ledger.jsonl', 'w') as f:
        for i in range(rows):
            name = f'seg{i:07d}'
            if i % 10 == 9:  # a tenth skipped for several persons
                q = dict(frames=int(rng.integers(5, 200)), person=0, multi=1, second=round(float(rng.uniform(0.3, 1)), 3))
                record = dict(sentence=name, video=f'vid{i // 55:05d}', status='skipped',
                              reason='multiple persons detected', frames=0, quality=q, run='bench')
            else:
                frames = int(rng.integers(5, 400))
                hands = rng.uniform(0, 1, 2).round(3)
                if i < 8:
                    hands = np.array([1.0, 1.0])
                elif i < 16:
                    hands = np.array([0.0, 0.0])
                q = dict(frames=frames, person=frames, body=0.9, face=0.95, lhand=round(float(hands[0]), 3),
                         rhand=round(float(hands[1]), 3), lhand_in=float(hands[0]), rhand_in=float(hands[1]),
                         jitter_l=round(float(rng.gamma(2, 0.02)), 3), jitter_r=round(float(rng.gamma(2, 0.02)), 3),
                         top=0.9, second=None if rng.random() < 0.8 else round(float(rng.uniform(0.3, 0.5)), 3),
                         multi=0, multi_scores=None)
                record = dict(sentence=name, video=f'vid{i // 55:05d}', status='written', reason='', frames=frames,
                              path=str(folder / f'{name}.npy'), reader='pyav h264', quality=q, run='bench')
            f.write(encoder.encode(dict(record, time=1.0 + i)) + '\n')
    rows_of = rng.uniform(0, 1, (40, 85, 4)).astype(np.float32)
    for i in range(16):
        np.save(folder / f'seg{i:07d}.npy', rows_of)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rows', type=int, default=YOUTUBE_ASL_SEGMENTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        start = time.perf_counter()
        write_ledger(folder, args.rows)
        ledger_mb = (folder / 'ledger.jsonl').stat().st_size / 2**20
        print(f'ledger: {args.rows:,} lines, {ledger_mb:.0f} MiB (written in {time.perf_counter() - start:.1f} s)')
        settings = load_settings().replace(NPY_DIR=str(folder), CSV_FILE=str(folder / 'none.tsv'),
                                           VIDEO_DIR=str(folder))
        start = time.perf_counter()
        summary = build_report(settings, folder, folder / 'report.html')
        seconds = time.perf_counter() - start
        print(f'report: {seconds:.1f} s; page {summary["html"].stat().st_size / 1024:.0f} kB, CSV '
              f'{summary["csv"].stat().st_size / 2**20:.0f} MiB ({summary["segments"]:,} segments)')


if __name__ == '__main__':
    main()
