"""Benchmark: the design's per-frame loop against the stage's engine, same frames, same models.

    python scripts/benchmark_3b.py                       # 1 s of 640x480 video (8 s on CUDA), fp32, 3 rounds
    python scripts/benchmark_3b.py --seconds 2 --memory --without-speedups --precision bf16
    python scripts/benchmark_3b.py --backend onnxruntime openvino   # also the engine on those runtimes
    python scripts/benchmark_3b.py --queue-memory         # peak RSS at 640x480, 1080p, 4K, 8K: byte budget vs frames

Prints frames/s of each, their ratio, seconds per stage (decode, detect, pose, post-process,
write), peak memory, and the largest difference between the two outputs. Uses the checkpoints
named in configs/extract_mmpose.py when present, else seeded weights (and says so).
"""
import argparse
import dataclasses
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from signpose.api import Extractor
from signpose.config import DEFAULT_CONFIG, Options, Output, Settings, load_settings
from signpose.data.manifest import Segment
from signpose.data.tasks import VideoTask
from signpose.data.video import probe, read_frames
from tests.support.per_frame_reference import PerFrameModels, process_video_per_frame
from scripts.benchmarks.replay import NetworkRecorder, host_side_rate, replay_networks
from tests.support.seeded_weights import make_seeded_checkpoint
from signpose.common.timing import timed
from signpose.nets.devices import BATCH_SIZES, pick_device, resolve
from signpose.nets.detector import Detections
from signpose.nets.inference import Networks, build_networks
from signpose.nets.loading import LoadedModels, load_detector, load_pose_model, quiet_library_warnings
from signpose.install.mmcv_lite import is_lite
from signpose.speed.runtimes import backend_problem
from signpose.run.work import process_video


def synchronize(device) -> None:
    """Wait for the device's queued work: on CUDA a call returns when its kernels are launched."""
    if str(device).startswith('cuda'):
        torch.cuda.synchronize(device)


def rss_bytes() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


class PeakMemory:
    """Samples this process's resident memory every 5 ms while the block runs."""

    def __enter__(self):
        self.base = self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class TimedNetwork:
    """Wraps a batched network, adding its calls' time to stats[key]; ``prepare`` passes through
    (the engine times it itself)."""

    def __init__(self, inner, stats: dict, key: str, device):
        self.inner, self.stats, self.key, self.device = inner, stats, key, device

    def __call__(self, prepared):
        with timed(self.stats, self.key):
            result = self.inner(prepared)
            synchronize(self.device)
        return result

    def __getattr__(self, name):
        return getattr(self.inner, name)


class TimedPerFrame:
    """Wraps the per-frame models, adding their detect and pose time to stats."""

    def __init__(self, inner: PerFrameModels, stats: dict):
        self.inner, self.stats = inner, stats

    def _timed(self, key, fn, *args):
        with timed(self.stats, key):
            result = fn(*args)
            synchronize(self.inner.models.device)
        return result

    def detect(self, frames):
        return self._timed('detect', self.inner.detect, frames)

    def estimate(self, frames, boxes):
        return self._timed('pose', self.inner.estimate, frames, boxes)


def networks_of(models, options: Options, decided, speedups: bool = True) -> Networks:
    """The stage's networks of the benchmark's models, loaded once and changed in memory (the
    calibrated clutter, the forward-pass timers): built here, an Extractor goes around them."""
    return build_networks(models, options.models, decided, options.compute.runtime_cache, speedups, log=print)


def timed_extractor(networks: Networks, options: Options, decided, device) -> Extractor:
    """An Extractor around ``networks`` with their calls timed into FORWARD_STATS."""
    timed_networks = Networks(TimedNetwork(networks.detector, FORWARD_STATS, 'detect', device),
                              TimedNetwork(networks.estimator, FORWARD_STATS, 'pose', device))
    return Extractor.around(timed_networks, options, decided)


def engine_mode(models, options: Options, decided, speedups: bool = True):
    """(the engine's networks, a mode's run: (task, output, stats) -> outcomes) with the calls timed."""
    networks = networks_of(models, options, decided, speedups)
    extractor = timed_extractor(networks, options, decided, models.device)
    return networks, lambda task, output, stats: process_video(task, extractor, output, stats)


class SeveralPersons:
    """The engine's detector, then each person it found repeated ``n`` times side by side (the
    copies shifted by a box width, clipped to the frame): the detector's cost as it is, ``n``
    persons per frame for MULTI_PERSON's cost."""

    def __init__(self, detector, n: int, width: int):
        self.detector, self.n, self.width = detector, n, width

    def prepare(self, frame):
        return self.detector.prepare(frame)

    def __call__(self, data):
        found = []
        for persons in self.detector(data):
            boxes = [persons.boxes]
            for k in range(1, self.n):
                shifted = persons.boxes.copy()
                step = (shifted[:, 2] - shifted[:, 0]) * k
                shifted[:, [0, 2]] = np.clip(shifted[:, [0, 2]] + step[:, None], 0, self.width)
                boxes.append(shifted)
            found.append(Detections(np.concatenate(boxes), np.tile(persons.scores, self.n)))
        return found


def several_persons_mode(models, options: Options, decided, n: int, width: int):
    """A mode's run of the engine with ``options``' MULTI_PERSON and ``n`` persons in every frame."""
    networks = networks_of(models, options, decided)
    several = Networks(SeveralPersons(networks.detector, n, width), networks.estimator)
    extractor = timed_extractor(several, options, decided, models.device)
    return lambda task, output, stats: process_video(task, extractor, output, stats)


def per_frame_mode(models, options: Options):
    """A mode's run of the design's per-frame loop, its calls timed."""
    per_frame = TimedPerFrame(PerFrameModels(models, options), FORWARD_STATS)
    return lambda task, output, stats: process_video_per_frame(task, per_frame, dataclasses.replace(options, output=output),
                                                               stats)


def time_forward_passes(models, stats, runtime_networks=()) -> None:
    """Count the networks' forward passes (feature extraction and head) into stats['forward'].

    On CUDA each timer synchronises at both ends, so it counts the kernels' time, not their
    launches (the synchronisation costs a little overlap; the engine's total is timed apart)."""
    device = models.device

    def wrap(owner, name):
        inner = getattr(owner, name)

        def wrapper(*args, **kwargs):
            synchronize(device)
            with timed(stats, 'forward'):
                result = inner(*args, **kwargs)
                synchronize(device)
                return result
        setattr(owner, name, wrapper)

    def start(module, args):
        synchronize(device)
        module._forward_start = time.perf_counter()

    def stop(module, args, output):
        synchronize(device)
        stats['forward'] = stats.get('forward', 0.0) + time.perf_counter() - module._forward_start

    for model in (models.detector, models.pose):
        wrap(model, 'extract_feat')
        head = getattr(model, 'bbox_head', None) or getattr(model, 'head', None)
        if head is not None:  # hooks: they also time the engine's own head forward
            head.register_forward_pre_hook(start)
            head.register_forward_hook(stop)
    for network in runtime_networks:  # BACKEND onnxruntime / openvino: the runtime's calls
        wrap(network, 'run')


def make_video(path, seconds, fps, width, height):
    """A video with one moving figure (the models see the same frames in both runs)."""
    import cv2
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, (width, height))
    rng = np.random.default_rng(0)
    background = rng.integers(0, 90, (height, width, 3), dtype=np.uint8)
    for i in range(int(round(seconds * fps))):
        frame = background.copy()
        x = width // 3 + int(20 * np.sin(i / 8))
        cv2.ellipse(frame, (x + width // 8, height // 4), (width // 16, height // 10), 0, 0, 360, (180, 190, 220), -1)
        cv2.rectangle(frame, (x, height // 3), (x + width // 4, height), (60, 90, 150), -1)
        writer.write(frame)
    writer.release()


def seeded_models(settings: Settings, folder):
    """Seeded checkpoints for timing, when the official ones are absent (see calibrate_clutter)."""
    det_cfg = Path(folder) / 'det.py'
    # one box per frame after NMS, so that random weights give one person; the rest of the
    # detector's post-processing (score_thr, nms_pre, NMS) stays as configured
    det_cfg.write_text(f'_base_ = {settings.DET_MODEL_CONFIG!r}\nmodel = dict(test_cfg=dict(max_per_img=1))\n')
    det_ckpt = make_seeded_checkpoint('det', str(det_cfg), Path(folder) / 'det.pth')
    pose_ckpt = make_seeded_checkpoint('pose', settings.POSE_MODEL_CONFIG, Path(folder) / 'pose.pth')
    return str(det_cfg), str(det_ckpt), str(pose_ckpt)


def calibrate_clutter(models, settings: Settings, frame, persons: int, clutter: int) -> None:
    """Give seeded RTMDet the score distribution of a trained detector on signing video.

    Random weights score every anchor and class alike. The class biases are shifted so that on
    the first frame about ``persons`` anchors score above BBOX_THR for the person class and
    about ``clutter`` (anchor, class) pairs of the other classes score above the detector's
    score_thr: the candidates that top-k and NMS then sort, as in a real run.
    """
    detector = models.detector
    options = Options.of(settings)
    data = networks_of(models, options, resolve(options.compute, models.device)).detector.prepare(frame)
    with torch.inference_mode():
        inputs = detector.data_preprocessor(dict(inputs=[data['inputs']], data_samples=[data['data_samples']]),
                                            False)['inputs']
        cls_scores = detector.bbox_head(detector.extract_feat(inputs))[0]
    logits = torch.cat([level[0].flatten(1) for level in cls_scores], dim=1)  # (classes, anchors)
    person = logits[settings.DET_CAT_ID]
    others = torch.cat([logits[:settings.DET_CAT_ID], logits[settings.DET_CAT_ID + 1:]]).flatten()
    score_thr = float(detector.bbox_head.test_cfg.get('score_thr', 0.001))
    logit = lambda p: float(np.log(p / (1 - p)))  # noqa: E731
    shift_person = logit(settings.BBOX_THR) - float(torch.quantile(person, 1 - persons / person.numel()))
    shift_others = logit(score_thr) - float(torch.quantile(others[:2**24], 1 - clutter / others.numel()))
    num_classes = logits.shape[0]
    with torch.no_grad():
        for name, param in detector.named_parameters():
            if 'cls' in name and name.endswith('bias') and param.shape == (num_classes, ):
                param += shift_others
                param[settings.DET_CAT_ID] += shift_person - shift_others


FORWARD_STATS = {}  # the forward-pass timer writes here; each mode starts it afresh


def run_mode(name, process, device, options: Options, task, out_dir):
    """One timed pass of a mode's ``process`` (task, output, stats) over the task on ``device``,
    writing into ``out_dir``."""
    output: Output = dataclasses.replace(options.output, folder=str(out_dir))
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    stats = FORWARD_STATS
    stats.clear()
    cuda = str(device).startswith('cuda')
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    with PeakMemory() as memory:
        synchronize(device)
        start = time.perf_counter()
        outcomes = list(process(task, output, stats))
        synchronize(device)
        wall = time.perf_counter() - start
    frames = sum(o.frames for o in outcomes)
    statuses = {o.status for o in outcomes}
    if statuses != {'written'}:
        print(f'  note: outcomes {[(o.sentence, o.status, o.reason) for o in outcomes]}')
    arrays = {p.stem: np.load(p) for p in Path(out_dir).glob('*.npy')}
    return dict(name=name, wall=wall, frames=frames, fps=frames / wall if wall else 0.0, stats=dict(stats),
                peak=memory.peak - memory.base, arrays=arrays,
                gpu_peak=torch.cuda.max_memory_allocated(device) if cuda else None)


def report(result, baseline=None):
    s = result['stats']
    stages = ', '.join(f'{k} {s.get(k, 0.0):.2f}' for k in ('decode', 'prepare', 'detect', 'pose', 'post-process',
                                                              'write'))
    line = (f'{result["name"]:<22} {result["frames"]:>5} frames  {result["wall"]:7.2f} s  '
            f'{result["fps"]:6.2f} frames/s')
    if baseline:
        line += f'  x{result["fps"] / baseline["fps"]:.2f}'
    print(line)
    print(f'{"":<22} seconds per stage: {stages}; peak memory +{result["peak"] / 2**20:.0f} MiB')
    print(f'{"":<22} the networks\' forward passes: {s.get("forward", 0.0):.2f} s, '
          f'{100 * s.get("forward", 0.0) / result["wall"]:.0f}% of the time')
    if result['gpu_peak'] is not None:
        calls = s.get('detect', 0.0) + s.get('pose', 0.0)  # synchronised: device work and the host's part of it
        print(f'{"":<22} GPU memory peak {result["gpu_peak"] / 2**20:.0f} MiB; host side outside the model '
              f'calls {100 * (1 - calls / result["wall"]):.0f}% of the time')


def deviation(result, reference):
    """Largest |difference| per channel (x, y, z, visibility) over all segments."""
    worst = None
    for name, ref in reference['arrays'].items():
        got = result['arrays'].get(name)
        if got is None or got.shape != ref.shape:
            return f'different outputs ({name}: {None if got is None else got.shape} vs {ref.shape})'
        diff = np.abs(got.astype(np.float64) - ref).reshape(-1, ref.shape[-1]).max(axis=0)
        worst = diff if worst is None else np.maximum(worst, diff)
    labels = ('x', 'y', 'z', 'visibility')
    return ', '.join(f'{labels[i]} {v:.2e}' for i, v in enumerate(worst)) if worst is not None else 'no output'


def max_deviation(results, references) -> str:
    """The deviation of every round against every reference round (they all should agree)."""
    texts = {deviation(r, q) for r in results for q in references}
    return texts.pop() if len(texts) == 1 else '; '.join(sorted(texts))


QUEUE_SIZES = ['640x480', '1920x1080', '3840x2160', '7680x4320']


def encode_h264(path, frames: int, fps: int, width: int, height: int) -> Path:
    """A clip made with PyAV's libx264 (ultrafast: 8K frames too), a figure moving on a smooth background."""
    import av
    import cv2
    from fractions import Fraction
    coarse = np.random.default_rng(0).integers(0, 160, (18, 32, 3), dtype=np.uint8)
    background = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    with av.open(str(path), 'w') as container:
        stream = container.add_stream('libx264', rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, 'yuv420p'
        stream.options = {'preset': 'ultrafast'}
        for i in range(frames):
            image = background.copy()
            x = width // 3 + (i * width // 100) % (width // 4)
            cv2.rectangle(image, (x, height // 3), (x + width // 4, height), (60, 90, 150), -1)
            cv2.ellipse(image, (x + width // 8, height // 4), (width // 16, height // 10), 0, 0, 360, (180, 190, 220), -1)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format='bgr24')))
        container.mux(stream.encode())
    return Path(path)


def queue_memory_run(job: dict) -> dict:
    """In a fresh process: the models loaded, then the engine on the clip; resident memory after
    the load and at its peak (ru_maxrss), and the written array's bytes."""
    import gc
    import hashlib
    import resource
    quiet_library_warnings()
    options = job['options']
    extractor = Extractor.from_options(options, 'cpu', log=lambda line: None)  # a worker's start, as the stage's
    info = probe(job['video'])
    task = VideoTask('memory', info, [Segment('memory', 'segment', 0.0, job['seconds'])])
    gc.collect()
    loaded = rss_bytes()
    start = time.perf_counter()
    outcomes = list(process_video(task, extractor, options.output))
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    written = [o for o in outcomes if o.path]
    digest = hashlib.sha256(Path(written[0].path).read_bytes()).hexdigest() if written else None
    return dict(loaded=loaded, peak=peak, wall=wall, frames=sum(o.frames for o in outcomes), digest=digest,
                statuses=sorted({o.status for o in outcomes}))


def run_queue_memory(args, settings: Settings, work: Path) -> None:
    """Peak resident memory of one worker at each frame size: the decode queue bounded by
    DECODE_QUEUE_MB against the frame count alone (DECODE_QUEUE frames, the former bound)."""
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing
    real = Path(settings.DET_MODEL_CHECKPOINT).is_file() and Path(settings.POSE_MODEL_CHECKPOINT).is_file()
    if real:
        det_cfg, det_ckpt, pose_ckpt = settings.DET_MODEL_CONFIG, settings.DET_MODEL_CHECKPOINT, \
            settings.POSE_MODEL_CHECKPOINT
        print('weights: the official checkpoints')
    else:  # as the tests: RTMDet-nano (person), one box per frame kept (BBOX_THR 0), so the pose model
        # runs on every frame; random RTMDet-M weights would send every anchor through NMS
        print('weights: SEEDED (official checkpoints absent): memory is valid, poses are meaningless; '
              'detector RTMDet-nano (person)')
        nano = Path(settings.ROOT) / 'models' / 'configs' / 'rtmdet_nano_320-8xb32_coco-person.py'
        det_cfg = work / 'det_nano.py'
        det_cfg.write_text(f'_base_ = {str(nano)!r}\nmodel = dict(bbox_head=dict(exp_on_reg=True), '
                           f'test_cfg=dict(score_thr=0.0, max_per_img=1))\n')
        det_cfg, det_ckpt = str(det_cfg), str(make_seeded_checkpoint('det', str(det_cfg), work / 'det.pth'))
        pose_ckpt = str(make_seeded_checkpoint('pose', settings.POSE_MODEL_CONFIG, work / 'pose.pth'))
        settings = settings.replace(BBOX_THR=0.0)
    frames = args.queue_frames
    print(f'{frames} frames per clip (libx264), the segment over all of them; DECODE_QUEUE {settings.DECODE_QUEUE} '
          f'frames; {resolve(Options.of(settings).compute, "cpu").cpu_threads} threads; each run in a fresh process (RSS after loading '
          f'the models, and its peak)')
    print(f'\n| frames | frame size | frame-count bound only: peak RSS | DECODE_QUEUE_MB={settings.DECODE_QUEUE_MB}: '
          f'peak RSS | same bytes written |\n| --- | --- | --- | --- | --- |')
    context = multiprocessing.get_context('spawn')
    for size in args.queue_sizes:
        width, height = (int(v) for v in size.split('x'))
        video = encode_h264(work / f'{size}.mp4', frames, 24, width, height)
        results = {}
        for mode, budget in (('frames', 1 << 30), ('bytes', settings.DECODE_QUEUE_MB)):
            out = work / f'memory-{size}-{mode}'
            out.mkdir()
            run = settings.replace(NPY_DIR=str(out), DECODE_QUEUE_MB=budget, DET_MODEL_CONFIG=det_cfg,
                                   DET_MODEL_CHECKPOINT=det_ckpt, POSE_MODEL_CHECKPOINT=pose_ckpt)
            job = dict(options=Options.of(run), video=str(video), seconds=frames / 24)
            with ProcessPoolExecutor(1, mp_context=context) as pool:
                results[mode] = pool.submit(queue_memory_run, job).result()
        f, b = results['frames'], results['bytes']
        mib = lambda n: f'{n / 2**20:,.0f} MiB'  # noqa: E731
        print(f"| {frames} | {size} ({width * height * 3 / 2**20:.1f} MiB a frame) | {mib(f['peak'])} "
              f"(+{mib(f['peak'] - f['loaded'])} over the loaded models) | {mib(b['peak'])} "
              f"(+{mib(b['peak'] - b['loaded'])}) | {f['digest'] == b['digest'] and f['digest'] is not None} |",
              flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--video', help='a video to use (default: a generated 640x480 one)')
    parser.add_argument('--seconds', type=float,
                        help='segment length (default 1; on CUDA 8, so that full batches of 16 frames and 64 crops run)')
    parser.add_argument('--rounds', type=int, default=3,
                        help='timed rounds, alternating the modes; each is reported by its fastest (default 3)')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--fps', type=float, default=30.0)
    parser.add_argument('--det-batch', type=int, help='DET_BATCH_SIZE (default: the config\'s)')
    parser.add_argument('--pose-batch', type=int, help='POSE_BATCH_SIZE (default: the config\'s)')
    parser.add_argument('--precision', nargs='*', default=[], choices=['fp16', 'bf16'],
                        help='also time the engine in these reduced precisions (opt-in modes)')
    parser.add_argument('--memory', action='store_true',
                        help='also run the engine on a 4x longer segment to compare peak memory')
    parser.add_argument('--skip-reference', action='store_true', help='time the engine only')
    parser.add_argument('--backend', nargs='*', default=[], choices=['onnxruntime', 'openvino'],
                        help='also time the engine with its networks in these runtimes (BACKEND)')
    parser.add_argument('--without-speedups', action='store_true',
                        help='also time the engine without its exact rewrites of the networks (signpose/speed/speedups.py)')
    parser.add_argument('--device', help='override DEVICE')
    parser.add_argument('--host-only', action='store_true',
                        help='the host side alone: the networks\' outputs recorded once, then replayed '
                             '(everything but the forward passes runs), with 1 and 2 worker processes')
    parser.add_argument('--workers', type=int, nargs='+', default=[1, 2], help='--host-only: worker counts')
    parser.add_argument('--sizes', nargs='+', default=['640x480', '1280x720'], help='--host-only: frame sizes')
    parser.add_argument('--clutter', type=int, default=3000,
                        help='seeded weights only: non-person candidates above score_thr per frame (default 3000)')
    parser.add_argument('--persons', type=int, default=20,
                        help='seeded weights only: person candidates above BBOX_THR per frame (default 20)')
    parser.add_argument('--several', type=int, nargs='*', default=[], metavar='N',
                        help='also time the engine with MULTI_PERSON (--multi-person) and N persons in every frame '
                             '(each person found repeated N times side by side), e.g. --several 1 2 3')
    parser.add_argument('--multi-person', default='signer', choices=['largest', 'signer'],
                        help="--several: the MULTI_PERSON mode (default 'signer')")
    parser.add_argument('--queue-memory', action='store_true',
                        help='instead: peak RSS with the decode queue bounded in bytes against frames only')
    parser.add_argument('--queue-sizes', nargs='+', default=QUEUE_SIZES, help='--queue-memory: frame sizes')
    parser.add_argument('--queue-frames', type=int, default=40, help='--queue-memory: frames per clip')
    args = parser.parse_args()
    quiet_library_warnings()

    settings = load_settings(DEFAULT_CONFIG)
    overrides = {k: v for k, v in dict(DET_BATCH_SIZE=args.det_batch, POSE_BATCH_SIZE=args.pose_batch,
                                       DEVICE=args.device).items() if v is not None}
    settings = settings.replace(**overrides)
    device = pick_device(settings.DEVICE)
    if device.startswith('cuda'):
        torch.cuda.set_device(device)  # allocations, streams and memory statistics on --device's GPU
    if args.seconds is None:
        args.seconds = 8.0 if device.startswith('cuda') and not args.host_only else 1.0
    with tempfile.TemporaryDirectory(prefix='benchmark_3b_') as work:
        if args.queue_memory:
            run_queue_memory(args, settings.replace(DEVICE='cpu'), Path(work))
        elif args.host_only:
            run_host_only(args, settings, Path(work))
        else:
            run_benchmark(args, settings, device, Path(work))


def load_benchmark_models(settings: Settings, device, work: Path):
    """The official checkpoints when present, else seeded ones; (models, det config, det ckpt, pose ckpt)."""
    real = Path(settings.DET_MODEL_CHECKPOINT).is_file() and Path(settings.POSE_MODEL_CHECKPOINT).is_file()
    if real:
        det_cfg, det_ckpt, pose_ckpt = settings.DET_MODEL_CONFIG, settings.DET_MODEL_CHECKPOINT, \
            settings.POSE_MODEL_CHECKPOINT
        print('weights: the official checkpoints')
    else:
        print('weights: SEEDED (official checkpoints absent): timings are valid, poses are meaningless')
        det_cfg, det_ckpt, pose_ckpt = seeded_models(settings, work)
    models = LoadedModels(load_detector(det_cfg, det_ckpt, device), load_pose_model(
        settings.POSE_MODEL_CONFIG, pose_ckpt, device), device)
    return models, real, (det_cfg, det_ckpt, pose_ckpt)


def run_host_only(args, settings: Settings, work: Path):
    """Record the networks' outputs on a few frames, then time the engine with them replayed."""
    models, real, (det_cfg, det_ckpt, pose_ckpt) = load_benchmark_models(settings, 'cpu', work)
    decided = resolve(Options.of(settings).compute, 'cpu')
    make_video(work / 'record.mp4', 1.0, args.fps, 640, 480)
    record = probe(work / 'record.mp4')
    if not real:
        calibrate_clutter(models, settings, next(read_frames(record, [0]))[1], args.persons, args.clutter)
        det_ckpt = str(work / 'det_calibrated.pth')
        torch.save(dict(state_dict=models.detector.state_dict(), meta={}), det_ckpt)
    recorder = NetworkRecorder(models)
    cpu = Options.of(settings.replace(NPY_DIR=str(work / 'record')))
    Path(cpu.output.folder).mkdir()
    list(process_video(VideoTask('r', record, [Segment('r', 'record', 0.0, 0.34)]),
                       Extractor.around(networks_of(models, cpu, decided), cpu, decided), cpu.output))
    recorder.close()
    torch.save(dict(detector=recorder.detector, pose=recorder.pose), work / 'outputs.pt')
    print(f'recorded the networks\' outputs for {len(recorder.detector)} frames and {len(recorder.pose)} crops '
          f'(RTMDet + RTMW3D on the CPU); replayed in turn for every frame')
    # the settings of a GPU worker: its batch sizes; the replay itself runs on the CPU
    gpu = settings.replace(DEVICE='cpu', DET_BATCH_SIZE=settings.DET_BATCH_SIZE or BATCH_SIZES['cuda'][0],
                           POSE_BATCH_SIZE=settings.POSE_BATCH_SIZE or BATCH_SIZES['cuda'][1])
    cores = os.cpu_count()
    for size in args.sizes:
        width, height = (int(v) for v in size.split('x'))
        video = work / f'{size}.mp4'
        make_video(video, args.seconds * 30 + 0.5, args.fps, width, height)
        job = dict(det_cfg=det_cfg, det_ckpt=det_ckpt, pose_cfg=settings.POSE_MODEL_CONFIG, pose_ckpt=pose_ckpt,
                   outputs=str(work / "outputs.pt"), video=str(video), seconds=args.seconds * 30,
                   settings={**vars(gpu), 'NPY_DIR': str(work / f'host-{size}')})
        rates = {}
        for workers in args.workers:
            result = host_side_rate(dict(job, settings=dict(job['settings'], NPY_DIR=f'{job["settings"]["NPY_DIR"]}-{workers}')),
                                    workers)
            rates[workers] = result
            print(f'host side: {result["fps"]:.0f} frames/s ({size}, {cores} cores, {workers} worker(s); '
                  f'{result["frames"]} frames in {result["wall"]:.1f} s)')
        # every worker wrote the same arrays; the engine's equal the per-frame loop's under replay
        arrays = [a for r in rates.values() for a in r['arrays']]
        same = all(len(a) == len(arrays[0]) and all(np.array_equal(x, y) for x, y in zip(a, arrays[0]))
                   for a in arrays)
        replay_networks(models, recorder.detector, recorder.pose)  # the cycles from their start, as in each worker
        loop = Options.of(gpu.replace(NPY_DIR=str(work / f'loop-{size}')))
        Path(loop.output.folder).mkdir()
        # the loop runs mmdet's full post-processing (thousands of candidates): its first second
        task = VideoTask('host', probe(video), [Segment('host', 'segment', 0.0, 1.0)])
        reference = [np.load(o.path) for o in process_video_per_frame(task, PerFrameModels(models, loop), loop)
                     if o.path]
        equal = same and len(reference) == 1 and np.array_equal(reference[0], arrays[0][0][:len(reference[0])])
        print(f'{"":<11}outputs: every worker\'s identical, and the per-frame loop\'s under the same replay '
              f'(first {len(reference[0]) if reference else 0} frames) equal: {equal}')


def run_benchmark(args, settings: Settings, device, work: Path):
    models, real, _ = load_benchmark_models(settings, device, work)
    if device.startswith('cuda'):
        nms = "the project's, in torch on the GPU (mmcv-lite)" if is_lite() else "mmcv's compiled op"
        print(f'GPU {torch.cuda.get_device_name(device)}; NMS: {nms}')
        args.precision = args.precision or ['fp16']  # the GPU report includes fp16 speed and deviation
    options = Options.of(settings)
    decided = resolve(options.compute, device)

    video = Path(args.video) if args.video else work / 'video.mp4'
    longest = args.seconds * (4 if args.memory else 1)
    # the warm-up runs every batch size the timed rounds run: a full batch of each network and less
    warm_seconds = max(0.2, (max(decided.det_batch_size, decided.pose_batch_size) + 2) / 24)
    if not args.video:
        make_video(video, max(longest, warm_seconds) + 0.5, args.fps, args.width, args.height)
    info = probe(video)
    if not real:
        _, first = next(read_frames(info, [0]))
        calibrate_clutter(models, settings, first, args.persons, args.clutter)
        print(f'seeded detector calibrated: ~{args.persons} person candidates above BBOX_THR, '
              f'~{args.clutter} other candidates above score_thr per frame (--persons, --clutter)')
    task = VideoTask('bench', info, [Segment('bench', 'segment', 0.0, args.seconds)])
    print(f'video: {info.width}x{info.height} at {info.fps:.2f} fps, segment {args.seconds} s; device {device}, '
          f'{torch.get_num_threads()} threads; det batch {decided.det_batch_size}, pose batch '
          f'{decided.pose_batch_size}')

    runtime_modes = []
    for backend in args.backend:  # exported (into a folder of this run when the weights are seeded) before timing
        runtime = Options.of(settings.replace(BACKEND=backend, RUNTIME_CACHE=settings.RUNTIME_CACHE if real
                                              else str(work / 'runtime_cache')))
        problem = backend_problem(runtime.compute)
        if problem:
            print(f'{f"engine ({backend})":<22} skipped: {problem}')
            continue
        networks, process = engine_mode(models, runtime, resolve(runtime.compute, device))
        runtime_modes.append((f'engine ({backend})', process, runtime, networks))
    time_forward_passes(models, FORWARD_STATS, [n for *_, networks in runtime_modes
                                                for n in (networks.detector.network.network, networks.estimator.network.network)])
    runtime_modes = [mode[:3] for mode in runtime_modes]

    # every mode keeps one inference object across rounds, as a worker of the stage does
    modes = []
    if not args.skip_reference:
        modes.append(('per-frame loop', per_frame_mode(models, options), options))
    engine_networks, engine_process = engine_mode(models, options, decided)
    modes.append(('engine (fp32)', engine_process, options))
    if args.without_speedups:
        modes.append(('engine, no rewrites', engine_mode(models, options, decided, speedups=False)[1], options))
    for precision in args.precision:
        if precision == 'bf16' and device == 'cpu' and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            print('engine (bf16)          skipped: this CPU has no native bf16 (measured here: RTMW3D-L '
                  '20.1 s per crop in bf16 against 0.37 s in fp32)')
            continue
        if precision == 'fp16' and not device.startswith('cuda'):
            print('engine (fp16)          skipped: fp16 autocast is for CUDA')
            continue
        reduced = Options.of(settings.replace(PRECISION=precision))
        modes.append((f'engine ({precision})', engine_mode(models, reduced, resolve(reduced.compute, device))[1], reduced))
    modes += runtime_modes
    for n in args.several:  # MULTI_PERSON's cost: n persons in every frame ('signer' poses each)
        mode = Options.of(settings.replace(MULTI_PERSON=args.multi_person))
        modes.append((f'engine, {args.multi_person}, {n} person{"s" if n > 1 else ""}',
                      several_persons_mode(models, mode, decided, n, info.width), mode))

    # warm-up: first calls allocate memory and pick kernels (cuDNN per batch shape and precision),
    # so every mode runs once, untimed, on a segment that fills its batches
    warm_task = VideoTask('bench', info, [Segment('bench', 'warm', 0.0, warm_seconds)])
    for number, (name, process, mode_options) in enumerate(modes):
        run_mode(name, process, device, mode_options, warm_task, work / f'warm{number}')

    # rounds alternate the modes, so that a slow spell of the machine hits them alike; each
    # mode is reported by its fastest round, and the ratio of each round is shown too
    rounds = {name: [] for name, *_ in modes}
    for index in range(args.rounds):
        for number, (name, process, mode_options) in enumerate(modes):
            rounds[name].append(run_mode(name, process, device, mode_options, task,
                                         work / f'mode{number}-round{index}'))
    best = {name: max(results, key=lambda r: r['fps']) for name, results in rounds.items()}
    reference = best.get('per-frame loop')
    for name, result in best.items():
        report(result, None if result is reference else reference)
        if reference and result is not reference:
            per_round = [r['fps'] / q['fps'] for r, q in zip(rounds[name], rounds['per-frame loop'])]
            print(f'{"":<22} ratio in each round: {", ".join(f"x{v:.2f}" for v in per_round)}')
        against = 'engine (fp32)' if name.endswith('16)') else 'per-frame loop'
        if against in rounds and against != name:
            print(f'{"":<22} largest difference to the {against}: {max_deviation(rounds[name], rounds[against])}')
        if name == 'engine (fp32)':
            box_branch = getattr(engine_networks.detector.speedups, 'box_branch', None)
            if box_branch is not None and box_branch.rows[1]:
                computed, total = box_branch.rows
                print(f'{"":<22} RTMDet box branch computed on {100 * computed / total:.0f}% of the feature rows '
                      f'(the rows holding candidates above BBOX_THR, see signpose/speed/speedups.py)')
    if args.memory:
        long_task = VideoTask('bench', info, [Segment('bench', 'segment', 0.0, longest)])
        long = run_mode(f'engine, {longest:g} s segment', engine_process, device, options,
                        long_task, work / 'long')
        report(long, reference)
        print(f'{"":<22} peak memory {max(r["peak"] for r in rounds["engine (fp32)"]) / 2**20:.0f} MiB for '
              f'{args.seconds:g} s, {long["peak"] / 2**20:.0f} MiB for {longest:g} s')


if __name__ == '__main__':
    main()
