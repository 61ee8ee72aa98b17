"""Benchmark: the run report at YouTube-ASL's size: a manifest of 610,193 rows in 11,093 videos,
their ledger lines (a quality record on every written one) in 300 shard ledgers, and 300 shard
run records, one of them with another pose checkpoint, BBOX_THR and mmpose version.

    python scripts/benchmark_report.py [--rows 610193] [--shards 300]

Prints the time to build the page and the CSV, and their sizes. The quality values are drawn at
random; the flagged, best and worst segments have real .npy files (their thumbnails are drawn
without a video); the other written files are absent (counted as gone: one listing of the folder).
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from signpose.config import Options, load_settings
from signpose.nets.devices import resolve
from signpose.output.provenance import start_run
from signpose.qa.report import build_report

YOUTUBE_ASL_SEGMENTS = 610_193
YOUTUBE_ASL_VIDEOS = 11_093


def write_records(folder: Path, shards: int) -> None:
    """``shards`` run records as the stage writes them, one with another pose checkpoint and settings."""
    import dataclasses
    folder.joinpath('ckpt').mkdir()
    for name, data in (('det.pth', b'detector' * 1000), ('pose.pth', b'pose' * 1000), ('other.pth', b'other' * 1000)):
        (folder / 'ckpt' / name).write_bytes(data)
    settings = load_settings().replace(NPY_DIR=str(folder), CSV_FILE=str(folder / 'manifest.tsv'),
                                       DET_MODEL_CHECKPOINT=str(folder / 'ckpt' / 'det.pth'),
                                       POSE_MODEL_CHECKPOINT=str(folder / 'ckpt' / 'pose.pth'), DEVICE='cpu')
    decided = resolve(Options.of(settings).compute, warn=False)
    for shard in range(shards):
        odd = shard == shards // 2
        mine = settings.replace(NUM_SHARDS=shards, SHARD_INDEX=shard, BBOX_THR=0.5 if odd else 0.3,
                                POSE_MODEL_CHECKPOINT=str(folder / 'ckpt' / ('other.pth' if odd else 'pose.pth')))
        run = start_run(dataclasses.asdict(mine), decided, None, argv=['scripts/3b_extract_mmpose.py'], now=1e9 + shard)
        record = dict(run.record)
        if odd:
            record['versions'] = dict(record['versions'], mmpose='1.3.1')
        run.record = record
        run.finish(dict(processed=rows_per_shard(shard, shards), frames=1000), 0, end=1e9 + shard + 3600)


def rows_per_shard(shard: int, shards: int) -> int:
    return YOUTUBE_ASL_SEGMENTS // shards


def write_manifest(folder: Path, rows: int) -> None:
    per_video = max(1, rows // YOUTUBE_ASL_VIDEOS + 1)
    with open(folder / 'manifest.tsv', 'w') as f:
        f.write('VIDEO_NAME\tSENTENCE_NAME\tSTART\tEND\n')
        f.writelines(f'vid{i // per_video:05d}\tseg{i:07d}\t{i % per_video}.0\t{i % per_video + 0.9}\n'
                     for i in range(rows))


def write_ledger(folder: Path, rows: int, seed: int = 0, shards: int = 1) -> None:
    rng = np.random.default_rng(seed)
    encoder = json.JSONEncoder()
    runs = sorted(p.stem for p in (folder / 'runs').glob('*.json'))
    per_video = max(1, rows // YOUTUBE_ASL_VIDEOS + 1)
    files = [open(folder / f'ledger.shard-{k:04d}-of-{shards:04d}.jsonl', 'w') for k in range(shards)]
    try:
        for i in range(rows):
            video = i // per_video
            shard = video % shards
            f = files[shard]
            name = f'seg{i:07d}'
            if i % 10 == 9:  # a tenth skipped for several persons
                q = dict(frames=int(rng.integers(5, 200)), person=0, multi=1, second=round(float(rng.uniform(0.3, 1)), 3))
                record = dict(sentence=name, video=f'vid{video:05d}', status='skipped',
                              reason='multiple persons detected', frames=0, quality=q, run=runs[shard] if runs else 'bench')
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
                         multi=0, multi_scores=None, frozen=1 if i != 20 else frames, clipped=0.01,
                         first_row=f'{i:016x}', size=[1280, 720], fps=24.0)
                reason = 'video ended early: 30 of 60 frames' if i % 997 == 5 else ''
                record = dict(sentence=name, video=f'vid{video:05d}', status='written', reason=reason, frames=frames,
                              path=str(folder / f'{name}.npy'), reader='pyav h264', quality=q,
                              run=runs[shard] if runs else 'bench')
            if i % 5003 == 7:
                record = dict(sentence=name, video=f'vid{video:05d}', status='failed', reason='worker died: SIGKILL',
                              frames=0, path='', reader='pyav h264', run=runs[shard] if runs else 'bench')
            if i % 7919 == 3:
                continue  # never processed
            f.write(encoder.encode(dict(record, time=1.0 + i)) + '\n')
    finally:
        for f in files:
            f.close()
    rows_of = rng.uniform(0, 1, (40, 85, 4)).astype(np.float32)
    for i in list(range(16)) + [20]:
        np.save(folder / f'seg{i:07d}.npy', rows_of)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rows', type=int, default=YOUTUBE_ASL_SEGMENTS)
    parser.add_argument('--shards', type=int, default=300)
    parser.add_argument('--keep', help='write the folder here and keep it (to open the page)')
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        folder = Path(args.keep or work)
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        write_manifest(folder, args.rows)
        write_records(folder, args.shards)
        write_ledger(folder, args.rows, shards=args.shards)
        ledger_mb = sum(p.stat().st_size for p in folder.glob('ledger*.jsonl')) / 2**20
        print(f'ledgers: {args.rows:,} segments in {args.shards} shards, {ledger_mb:.0f} MiB; {args.shards} run records; '
              f'manifest {args.rows:,} rows (written in {time.perf_counter() - start:.1f} s)')
        start = time.perf_counter()
        summary = build_report(folder, folder / 'report.html', manifest=str(folder / 'manifest.tsv'), video_dir=str(folder))
        seconds = time.perf_counter() - start
        print(f'report: {seconds:.1f} s; page {summary["html"].stat().st_size / 1024:.0f} kB, CSV '
              f'{summary["csv"].stat().st_size / 2**20:.0f} MiB ({summary["segments"]:,} segments, '
              f'{summary["groups"]} provenance groups, {summary["flagged"]:,} flagged; banners: {", ".join(summary["banners"])})')


if __name__ == '__main__':
    main()
