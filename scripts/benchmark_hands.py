#!/usr/bin/env python
"""Benchmark: the hand pass's cost (HAND_MODEL_CONFIG; docs/hands.md). The stage's engine on the
same frames, with and without the hand pass, at the batch sizes the engine uses on the CPU.

    python scripts/benchmark_hands.py                     # 2 s of 640x480 video at 24 fps, CPU, 3 rounds
    python scripts/benchmark_hands.py --seconds 4 --pose-batch 2 4 --rounds 5 --flip

Prints per configuration the engine's seconds per frame without and with the hand pass (the best of
the rounds, the modes alternating), the pass's extra seconds per frame and their ratio, the time the
engine spent in the pass itself, and the hand crops per frame it ran. ``--flip`` also times the hand
model with flip_test on (the official evaluation's setting). The models are the configs of
configs/extract_mmpose.py (RTMDet-M, RTMW3D-L) and RTMPose-m hand5 with seeded weights (the
official checkpoints are not needed for timing: the arithmetic is the same), the detector made to
keep one box per frame and calibrated as scripts/benchmarks/stage.py does (a trained detector's few
candidates), so that every frame has one person.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test aids (seeded weights) are not installed

import numpy as np  # noqa: E402
import torch  # noqa: E402

from signpose.api import Extractor  # noqa: E402
from signpose.config import Options, load_settings  # noqa: E402
from signpose.data.manifest import Segment  # noqa: E402
from signpose.data.tasks import VideoTask  # noqa: E402
from signpose.data.video import probe  # noqa: E402
from signpose.nets.devices import resolve  # noqa: E402
from signpose.nets.inference import build_networks  # noqa: E402
from signpose.nets.loading import LoadedModels, load_detector, load_hand_model, load_pose_model, \
    quiet_library_warnings  # noqa: E402
from scripts.benchmarks.stage import make_video  # noqa: E402  (the stage benchmark's moving figure)
from tests.support.seeded_weights import make_seeded_checkpoint  # noqa: E402

HAND5 = str(ROOT / 'models' / 'configs' / 'rtmpose-m_8xb256-210e_hand5-256x256.py')


def seeded(folder: Path, settings, flip: bool):
    """Seeded checkpoints of the configured detector (one box per frame) and pose model, and of hand5."""
    det_cfg = folder / 'det.py'
    det_cfg.write_text(f'_base_ = {settings.DET_MODEL_CONFIG!r}\nmodel = dict(test_cfg=dict(max_per_img=1))\n')
    files = dict(det=(str(det_cfg), str(make_seeded_checkpoint('det', str(det_cfg), folder / 'det.pth'))),
                 pose=(settings.POSE_MODEL_CONFIG,
                       str(make_seeded_checkpoint('pose', settings.POSE_MODEL_CONFIG, folder / 'pose.pth'))),
                 hand=(HAND5, str(make_seeded_checkpoint('pose', HAND5, folder / 'hand.pth'))))
    if flip:
        flipped = folder / 'hand_flip.py'
        flipped.write_text(f'_base_ = {HAND5!r}\nmodel = dict(test_cfg=dict(flip_test=True))\n')
        files['hand_flip'] = (str(flipped), files['hand'][1])
    return files


def first_frame(video) -> np.ndarray:
    import cv2
    capture = cv2.VideoCapture(str(video))
    ok, frame = capture.read()
    capture.release()
    return frame


def calibrate(detector, frame, person: int, bbox_thr: float, persons: int = 5, clutter: int = 100) -> None:
    """Give seeded RTMDet the score distribution of a trained detector on signing video (as
    scripts/benchmarks/stage.py does): the class biases shifted so that on the first frame about
    ``persons`` anchors score above BBOX_THR for the person class and about ``clutter`` (anchor,
    class) pairs of the other classes above the detector's score_thr."""
    from signpose.nets.detector import BatchedDetector
    data = BatchedDetector(detector, 'cpu', person, bbox_thr).prepare(frame)
    with torch.inference_mode():
        inputs = detector.data_preprocessor(dict(inputs=[data['inputs']], data_samples=[data['data_samples']]),
                                            False)['inputs']
        cls_scores = detector.bbox_head(detector.extract_feat(inputs))[0]
    logits = torch.cat([level[0].flatten(1) for level in cls_scores], dim=1)  # (classes, anchors)
    ours = logits[person]
    others = torch.cat([logits[:person], logits[person + 1:]]).flatten()
    score_thr = float(detector.bbox_head.test_cfg.get('score_thr', 0.001))
    logit = lambda p: float(np.log(p / (1 - p)))  # noqa: E731
    shift_person = logit(max(bbox_thr, 1e-3)) - float(torch.quantile(ours, 1 - persons / ours.numel()))
    shift_others = logit(score_thr) - float(torch.quantile(others[:2**24], 1 - clutter / others.numel()))
    with torch.no_grad():
        for name, param in detector.named_parameters():
            if 'cls' in name and name.endswith('bias') and param.shape == (logits.shape[0], ):
                param += shift_others
                param[person] += shift_person - shift_others


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seconds', type=float, default=2.0)
    parser.add_argument('--size', default='640x480')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--pose-batch', type=int, nargs='+', default=[2], help='POSE_BATCH_SIZE values (CPU: 2)')
    parser.add_argument('--det-batch', type=int, default=1, help='DET_BATCH_SIZE (CPU: 1)')
    parser.add_argument('--threads', type=int, default=None, help='CPU_THREADS (default: the cores)')
    parser.add_argument('--flip', action='store_true', help='also the hand model with flip_test on')
    parser.add_argument('--forward', type=int, default=0, metavar='N',
                        help='also time the networks\' calls alone, the best of N')
    args = parser.parse_args(argv)
    quiet_library_warnings()
    width, height = (int(v) for v in args.size.split('x'))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base = load_settings().replace(DEVICE='cpu', MULTI_PERSON='largest', NPY_DIR=str(folder / 'npy'),
                                       CPU_THREADS=args.threads, DET_BATCH_SIZE=args.det_batch)
        files = seeded(folder, base, args.flip)
        video = folder / 'v.mp4'
        make_video(video, args.seconds + 0.5, 30.0, width, height)
        task = VideoTask('v', probe(video), [Segment('v', 's', 0.0, args.seconds)])
        decided0 = resolve(Options.of(base).compute, 'cpu', warn=False)
        torch.set_num_threads(decided0.cpu_threads)
        detector = load_detector(*files['det'], 'cpu')
        calibrate(detector, first_frame(video), base.DET_CAT_ID, base.BBOX_THR)
        pose = load_pose_model(*files['pose'], 'cpu')
        hand_models = {name: load_hand_model(*files[name], 'cpu') for name in files if name.startswith('hand')}
        print(f'hand pass benchmark: {args.seconds} s of {width}x{height} video sampled at 24 fps; CPU, '
              f'{decided0.cpu_threads} torch thread(s) ({torch.get_num_threads()}), {torch.__version__}; '
              f'seeded weights: RTMDet {Path(base.DET_MODEL_CONFIG).name} (one box per frame), '
              f'{Path(base.POSE_MODEL_CONFIG).name}, {Path(HAND5).name}; best of {args.rounds} rounds')
        for pose_batch in args.pose_batch:
            settings = base.replace(POSE_BATCH_SIZE=pose_batch)
            runs = {'without': None, **{name: hand_models[name] for name in hand_models}}
            extractors = {}
            for name, hand in runs.items():
                options = Options.of(settings if hand is None else settings.replace(
                    HAND_MODEL_CONFIG=files[name][0], HAND_MODEL_CHECKPOINT=files[name][1]))
                decided = resolve(options.compute, 'cpu', warn=False)
                networks = build_networks(LoadedModels(detector, pose, 'cpu', hand), options.models, decided,
                                          options.compute.runtime_cache, log=lambda line: None)
                extractors[name] = Extractor.around(networks, options, decided)
            best = {name: (float('inf'), None, None) for name in runs}
            for name, extractor in extractors.items():  # warm-up: first calls of each shape, not counted
                list(extractor.run(VideoTask('v', task.info, [Segment('v', 'w', 0.0, 0.2)])))
            for _ in range(args.rounds):
                for name, extractor in extractors.items():
                    stats = {}
                    start = time.perf_counter()
                    items = list(extractor.run(task, stats))
                    seconds = time.perf_counter() - start
                    (item,) = items
                    if not hasattr(item, 'rows'):
                        raise SystemExit(f'the benchmark segment was not extracted: {item.reason}')
                    if seconds < best[name][0]:
                        best[name] = (seconds, stats, item)
            base_seconds, _, plain = best['without']
            frames = plain.frames
            print(f'\nDET_BATCH_SIZE {args.det_batch}, POSE_BATCH_SIZE {pose_batch} (hand crops per call: '
                  f'{2 * pose_batch}), {frames} frames')
            print(f'  without the hand pass   {1000 * base_seconds / frames:8.1f} ms/frame')
            for name in hand_models:
                seconds, stats, item = best[name]
                crops = sum(item.hands_summary[side]['boxes'] for side in ('left', 'right')) / frames
                extra = seconds - base_seconds
                label = 'with the hand pass' + (' (flip_test)' if name == 'hand_flip' else '')
                print(f'  {label:<24}{1000 * seconds / frames:8.1f} ms/frame: +{1000 * extra / frames:.1f} ms/frame '
                      f'= +{100 * extra / base_seconds:.1f} %; in the pass itself {1000 * stats.get("hands", 0.0) / frames:.1f} '
                      f'ms/frame; {crops:.2f} hand crops per frame')
            if args.forward:
                forward_times(extractors, first_frame(video), pose_batch, args.forward)
    return 0


def forward_times(extractors, frame, pose_batch: int, repeats: int) -> None:
    """The networks' calls alone, as the engine makes them (prepared inputs, no decoding): one
    detector call per frame, one pose call per POSE_BATCH_SIZE crops, one hand call for both hands of
    those crops; the best of ``repeats``, the calls interleaved."""
    networks = extractors['without'].networks
    hands = next(e.networks.hands for name, e in extractors.items() if name == 'hand')
    height, width = frame.shape[:2]
    box = np.array([width * 0.3, height * 0.1, width * 0.7, height * 0.95], np.float32)
    hand_box = np.array([width * 0.4, height * 0.5, width * 0.4 + 40, height * 0.5 + 40], np.float32)
    det_in = networks.detector.prepare(frame)
    pose_in = [networks.estimator.prepare(frame, box)] * pose_batch
    hand_in = [hands.prepare(frame, hand_box)] * (2 * pose_batch)
    calls = dict(detector=lambda: networks.detector([det_in]), pose=lambda: networks.estimator(pose_in),
                 hands=lambda: hands(hand_in))
    best = {name: float('inf') for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            best[name] = min(best[name], time.perf_counter() - start)
    per_frame = dict(detector=best['detector'], pose=best['pose'] / pose_batch, hands=best['hands'] / pose_batch)
    engine = per_frame['detector'] + per_frame['pose']
    print(f'  the networks alone, per frame (best of {repeats}): detector {1000 * per_frame["detector"]:.1f} ms, '
          f'pose {1000 * per_frame["pose"]:.1f} ms, hand model (2 crops) {1000 * per_frame["hands"]:.1f} ms '
          f'= +{100 * per_frame["hands"] / engine:.1f} % of detector + pose')


if __name__ == '__main__':
    sys.exit(main())
