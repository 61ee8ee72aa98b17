"""Start-up at YouTube-ASL scale: seconds from launching the stage to its plan (the `Tasks:` line).

    python scripts/benchmark_startup.py                        # 610,193 rows over 11,093 videos
    python scripts/benchmark_startup.py --rows 60000 --videos 1100 --present 30
    python scripts/benchmark_startup.py --workdir /tmp/startup # keep the data (and checkpoints) for next time

Generates a manifest of that size and tiny real videos (a few encoded 2 s clips, hard-linked under
every video's name) in a temporary folder, then runs the real script as a subprocess, three times:
1. `--present` videos there and the rest missing (a partial download): every segment of a missing
   video is recorded in the ledger;
2. the same command again (a rerun: the ledger is read, nothing new to record);
3. every video there (each one probed).
Each run is stopped once its plan is printed. The stage's checkpoints are used when present, else
seeded stand-ins (start-up only checks that they exist; the run never gets to load them).

    python scripts/benchmark_startup.py --worker-cost          # a worker process against 'inline'

``--worker-cost``: what the worker process costs at start-up (spawn, imports, model load in the
worker): the real script on one 0.2 s segment, EXECUTOR 'local' (one worker) and 'inline' (the
stage's own process) in turn, seconds from the `Tasks:` line to the segment's line and from launch
to exit, for each round.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the project

import numpy as np

from tests.support.seeded_weights import make_seeded_checkpoint
from signpose.config import load_settings
from signpose.nets.loading import quiet_library_warnings

SCRIPT = ROOT / 'scripts' / '3b_extract_mmpose.py'
# (encoder, container) of the clips: what YouTube downloads are (AV1 mp4, VP9 webm, H.264 mp4)
CLIPS = [('libsvtav1', 'mp4'), ('libvpx-vp9', 'webm'), ('libx264', 'mp4')]
ID_LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'


def encode_clip(path: Path, codec: str, seconds: float, fps: int, width: int, height: int) -> Path:
    """A short real video: a moving block on a smooth textured background (as a camera sees a room,
    not pixel noise, which costs a decoder several times more), a keyframe every 2 s."""
    import av
    import cv2
    os.environ.setdefault('SVT_LOG', '1')  # the AV1 encoder's banner: errors only
    coarse = np.random.default_rng(0).integers(0, 160, (18, 32, 3), dtype=np.uint8)
    background = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    with av.open(str(path), 'w') as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, 'yuv420p'
        stream.options = {'svtav1-params': f'keyint={2 * fps}', 'preset': '12'} if codec == 'libsvtav1' \
            else {'g': str(2 * fps)}
        for i in range(int(seconds * fps)):
            image = background.copy()
            x = (i * 7) % (width // 2)
            image[height // 4:3 * height // 4, x:x + width // 4] = (60, 90, 150)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format='bgr24')))
        container.mux(stream.encode())
    return path


def video_ids(count: int, rng) -> list:
    """Distinct 11-character names like YouTube's video IDs."""
    ids = set()
    while len(ids) < count:
        ids.add(''.join(rng.choice(list(ID_LETTERS), 11)))
    return sorted(ids, key=lambda _: rng.random())


def write_manifest(path: Path, names: list, rows: int, rng) -> None:
    """``rows`` captions spread over the videos, consecutive in each, 0.5-9 s long (a few under
    MIN_SEGMENT_SECONDS), in the manifest's order: video by video."""
    per_video = rng.multinomial(rows - len(names), np.full(len(names), 1 / len(names))) + 1
    lines = ['VIDEO_NAME\tSENTENCE_NAME\tSTART\tEND']
    for name, count in zip(names, per_video):
        durations = np.where(rng.random(count) < 0.01, 0.1, rng.uniform(0.5, 9.0, count))
        starts = np.concatenate([[0.0], np.cumsum(durations + 0.3)[:-1]])
        lines.extend(f'{name}\t{name}_{i:03d}\t{start:.3f}\t{start + duration:.3f}'
                     for i, (start, duration) in enumerate(zip(starts, durations)))
    path.write_text('\n'.join(lines) + '\n')


def link_videos(folder: Path, names: list, clips: list) -> None:
    """Every name as a hard link to one of the clips (its extension kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        clip = clips[i % len(clips)]
        os.link(clip, folder / f'{name}{clip.suffix}')


def checkpoints(workdir: Path) -> dict:
    """The stage's own checkpoints when present, else seeded stand-ins (made once per workdir)."""
    quiet_library_warnings()
    settings = load_settings()
    paths = {}
    for kind, key in (('det', 'DET'), ('pose', 'POSE')):
        own = Path(getattr(settings, f'{key}_MODEL_CHECKPOINT'))
        seeded = workdir / 'checkpoints' / f'{kind}.pth'
        if not own.is_file() and not seeded.is_file():
            print(f'  seeding a stand-in {kind} checkpoint ({own.name} is absent) ...', flush=True)
            make_seeded_checkpoint(kind, getattr(settings, f'{key}_MODEL_CONFIG'), seeded)
        paths[f'{key}_MODEL_CHECKPOINT'] = own if own.is_file() else seeded
    return paths


def launch(options: dict):
    """The real script with these settings, its output unbuffered: (start time, process)."""
    args = [sys.executable, str(SCRIPT), '--cfg-options'] + [f'{k}={v}' for k, v in options.items()]
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    started = time.perf_counter()
    return started, subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def time_to_plan(options: dict, timeout: float) -> dict:
    """Launch the stage; seconds until its `Manifest:` and `Tasks:` lines; stop it there."""
    started, process = launch(options)
    seen, lines = {}, []
    try:
        for line in process.stdout:
            lines.append(line.rstrip())
            for mark in ('Manifest:', 'Tasks:'):
                if line.startswith(mark) and mark not in seen:
                    seen[mark] = time.perf_counter() - started
                    seen[f'{mark} line'] = line.strip()
            if 'Tasks:' in seen or time.perf_counter() - started > timeout:
                break
    finally:
        process.send_signal(signal.SIGKILL)  # what follows the plan is not measured; a kill is safe
        process.wait()
    if 'Tasks:' not in seen:
        raise SystemExit('the stage printed no Tasks line:\n' + '\n'.join(lines[-30:]))
    return seen


def time_to_first_segment(options: dict, timeout: float) -> dict:
    """Launch the stage and let it finish; seconds to `Tasks:`, to the first segment line, to exit."""
    started, process = launch(options)
    seen, lines = {}, []
    for line in process.stdout:
        lines.append(line.rstrip())
        if line.startswith('Tasks:'):
            seen.setdefault('tasks', time.perf_counter() - started)
        if line.startswith('[1/'):
            seen.setdefault('segment', time.perf_counter() - started)
    process.wait(timeout)
    seen['exit'] = time.perf_counter() - started
    if process.returncode != 0 or 'segment' not in seen:
        raise SystemExit(f'the stage ended with {process.returncode}:\n' + '\n'.join(lines[-30:]))
    return seen


def worker_cost(args, workdir: Path) -> None:
    clip = encode_clip(workdir / 'clip.mp4', 'libx264', 1.0, 30, 256, 144)
    manifest = workdir / 'one.tsv'
    manifest.write_text('VIDEO_NAME\tSENTENCE_NAME\tSTART\tEND\nclip\tone\t0.0\t0.2\n')
    common = dict(CSV_FILE=manifest, VIDEO_DIR=clip.parent, DEVICE='cpu', **checkpoints(workdir))
    if 'checkpoints' in str(common['DET_MODEL_CHECKPOINT']) and workdir in Path(common['DET_MODEL_CHECKPOINT']).parents:
        # seeded: RTMDet-nano (person) keeping one box, as the tests do (random RTMDet-M weights send
        # every anchor through NMS, minutes a frame); RTMW3D-L as configured
        nano = ROOT / 'models' / 'configs' / 'rtmdet_nano_320-8xb32_coco-person.py'
        det_cfg = workdir / 'det_nano.py'
        det_cfg.write_text(f'_base_ = {str(nano)!r}\nmodel = dict(bbox_head=dict(exp_on_reg=True), '
                           f'test_cfg=dict(score_thr=0.0, max_per_img=1))\n')
        common.update(DET_MODEL_CONFIG=det_cfg, BBOX_THR=0.0,
                      DET_MODEL_CHECKPOINT=make_seeded_checkpoint('det', str(det_cfg), workdir / 'det_nano.pth'))
        print('seeded checkpoints: RTMDet-nano (person, one box a frame) and RTMW3D-L')
    print(f'load average before: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)')
    print('\n| round | executor | `Tasks:` to the segment (models loaded, 5 frames) | launch to exit |\n'
          '| --- | --- | --- | --- |')
    results = {'inline': [], 'local': []}
    for round_ in range(1, args.rounds + 1):
        for executor in ('inline', 'local'):
            npy = workdir / f'npy-{executor}-{round_}'  # a fresh folder: the segment is done again
            shutil.rmtree(npy, ignore_errors=True)
            seen = time_to_first_segment(dict(common, NPY_DIR=npy, EXECUTOR=executor), args.timeout)
            results[executor].append(seen)
            print(f"| {round_} | {executor} | {seen['segment'] - seen['tasks']:.2f} s | {seen['exit']:.2f} s |",
                  flush=True)
    best = {e: min(r['segment'] - r['tasks'] for r in rs) for e, rs in results.items()}
    exits = {e: min(r['exit'] for r in rs) for e, rs in results.items()}
    print(f"\nbest of {args.rounds}: a worker process costs {best['local'] - best['inline']:+.2f} s to the first "
          f"segment ({best['local']:.2f} s against {best['inline']:.2f} s in the stage's process), "
          f"{exits['local'] - exits['inline']:+.2f} s launch to exit")
    print(f'load average after: {os.getloadavg()[0]:.1f}')


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rows', type=int, default=610_193, help='caption rows (YouTube-ASL: 610,193)')
    parser.add_argument('--videos', type=int, default=11_093, help='videos (YouTube-ASL: 11,093)')
    parser.add_argument('--present', type=int, default=300, help='videos present in the first case')
    parser.add_argument('--size', default='256x144', help='clip size, WxH (a probe decodes a frame: 1280x720 costs more)')
    parser.add_argument('--workdir', help='keep the generated data here (default: a temporary folder, removed)')
    parser.add_argument('--timeout', type=float, default=600, help='seconds to wait for a plan')
    parser.add_argument('--worker-cost', action='store_true',
                        help="instead: a worker process's start-up against EXECUTOR='inline' (see above)")
    parser.add_argument('--rounds', type=int, default=3, help='--worker-cost: rounds of each executor')
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix='startup-'))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.worker_cost:
        try:
            return worker_cost(args, workdir)
        finally:
            if not args.workdir:
                shutil.rmtree(workdir, ignore_errors=True)
    width, height = (int(v) for v in args.size.split('x'))
    try:
        rng = np.random.default_rng(0)
        manifest = workdir / f'manifest-{args.rows}-{args.videos}.tsv'
        names = video_ids(args.videos, rng)
        print(f'Generating {args.rows:,} caption rows over {args.videos:,} videos and {width}x{height} clips '
              f'in {workdir} ...', flush=True)
        write_manifest(manifest, names, args.rows, rng)
        clips_dir = workdir / 'clips'
        shutil.rmtree(clips_dir, ignore_errors=True)
        clips_dir.mkdir()
        clips = [encode_clip(clips_dir / f'{codec}.{container}', codec, 2.0, 30, width, height)
                 for codec, container in CLIPS]
        for folder in ('videos-present', 'videos-all', 'npy-present', 'npy-all'):
            shutil.rmtree(workdir / folder, ignore_errors=True)
        link_videos(workdir / 'videos-present', names[:args.present], clips)
        link_videos(workdir / 'videos-all', names, clips)
        common = dict(CSV_FILE=manifest, DEVICE='cpu', **checkpoints(workdir))
        cases = [
            (f'{args.present} of {args.videos:,} videos present, first run', 'present'),
            (f'{args.present} of {args.videos:,} videos present, rerun', 'present'),
            (f'all {args.videos:,} videos present', 'all'),
        ]
        print(f'\nload average before: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)')
        print(f'\n| case | launch to `Manifest:` | launch to `Tasks:` | plan |\n| --- | --- | --- | --- |')
        for title, which in cases:
            result = time_to_plan(dict(common, VIDEO_DIR=workdir / f'videos-{which}',
                                       NPY_DIR=workdir / f'npy-{which}'), args.timeout)
            print(f"| {title} | {result['Manifest:']:.1f} s | **{result['Tasks:']:.1f} s** | "
                  f"{result['Tasks: line']} |", flush=True)
        print(f'\nload average after: {os.getloadavg()[0]:.1f}')
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
