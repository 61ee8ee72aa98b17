"""Shared test fixtures: seeded checkpoints, small real videos (the package: pip install -e .)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import signpose  # noqa: F401  (first: under mmcv-lite it provides mmcv._ext, the stage's NMS)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / 'fixtures'

MODEL_CONFIGS = ROOT / 'models' / 'configs'
RTMW3D_L = str(MODEL_CONFIGS / 'rtmw3d-l_8xb64_cocktail14-384x288.py')
RTMW3D_X = str(MODEL_CONFIGS / 'rtmw3d-x_8xb32_cocktail14-384x288.py')
RTMDET_M = str(MODEL_CONFIGS / 'rtmdet_m_8xb32-300e_coco.py')
RTMDET_M_PERSON = str(MODEL_CONFIGS / 'rtmdet_m_640-8xb32_coco-person.py')
RTMDET_NANO_PERSON = str(MODEL_CONFIGS / 'rtmdet_nano_320-8xb32_coco-person.py')


def state_dict_manifest(name: str) -> dict:
    """{'name': [shape]} of a reference architecture (tests/fixtures/state_dicts)."""
    entries = json.loads((FIXTURES / 'state_dicts' / f'{name}.json').read_text())
    return {k: list(v['shape']) for k, v in entries.items()}


def shapes_of(model) -> dict:
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def write_video(path, frames: int, fps: float, size=(160, 120), codec='mp4v', seed=0) -> Path:
    """A real video written by OpenCV: a moving bright figure on a noisy background."""
    rng = np.random.default_rng(seed)
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (w, h))
    assert writer.isOpened(), f'OpenCV cannot write {path}'
    background = rng.integers(0, 80, (h, w, 3), dtype=np.uint8)
    for i in range(frames):
        frame = background.copy()
        x = int(w * 0.3 + (i % 20) * w * 0.01)
        cv2.rectangle(frame, (x, int(h * 0.2)), (x + w // 4, int(h * 0.9)), (200, 180, 160), -1)
        cv2.circle(frame, (x + w // 8, int(h * 0.15)), h // 10, (220, 200, 190), -1)
        cv2.putText(frame, str(i), (5, h - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
        writer.write(frame)
    writer.release()
    return Path(path)


# ------------------------------------------------------------------ videos in real codecs
# (codec, container) pairs a YouTube or How2Sign download yields; PyAV's wheels carry the encoders
CODECS = [('libsvtav1', 'mp4'), ('libsvtav1', 'webm'), ('libvpx-vp9', 'webm'), ('libx265', 'mp4'),
          ('libx264', 'mkv'), ('libx264', 'mov'), ('libx264', 'mp4')]
INDEX_BITS = 12  # frames carry their index as 12 blocks, bright for a 1 bit


def index_frame(index: int, size=(256, 144), seed: int = 0) -> np.ndarray:
    """A BGR frame showing ``index`` in binary (two rows of six blocks) above a moving figure."""
    w, h = size
    frame = np.random.default_rng(seed).integers(20, 60, (h, w, 3), dtype=np.uint8)
    bw, bh = w // 6, h // 4
    frame[:2 * bh] = 16  # flat behind the blocks: lossy codecs keep them clear
    for bit in range(INDEX_BITS):
        if index >> bit & 1:
            row, col = divmod(bit, 6)
            frame[row * bh:(row + 1) * bh, col * bw:(col + 1) * bw] = 235
    x = int(w * 0.3 + (index % 20) * w * 0.01)
    cv2.rectangle(frame, (x, h // 2 + 4), (x + w // 4, h - 4), (200, 180, 160), -1)
    return frame


def index_of(frame: np.ndarray) -> int:
    """The index an ``index_frame`` shows (read from an upright decoded frame)."""
    h, w = frame.shape[:2]
    bw, bh = w // 6, h // 4
    value = 0
    for bit in range(INDEX_BITS):
        row, col = divmod(bit, 6)
        block = frame[row * bh + bh // 4:(row + 1) * bh - bh // 4, col * bw + bw // 4:(col + 1) * bw - bw // 4]
        value |= int(block.mean() > 128) << bit
    return value


def encode_video(path, codec: str, frames: int, fps: int = 30, size=(256, 144), gop: int = 60,
                 times=None, rotation: int = 0) -> Path:
    """A real video written by FFmpeg's encoders (through PyAV), each frame showing its index.

    ``gop``: frames between keyframes; ``times``: each frame's presentation time in seconds
    (a variable frame rate); ``rotation``: display-matrix rotation (degrees counter-clockwise,
    as phones write it), the frames then being stored sideways.
    """
    import fractions

    import av
    rate = fractions.Fraction(fps)
    with av.open(str(path), 'w') as container:
        stream = container.add_stream(codec, rate=rate, options={'g': str(gop)} if codec != 'libsvtav1' else {})
        if codec == 'libsvtav1':
            stream.options = {'svtav1-params': f'keyint={gop}', 'preset': '12', 'crf': '30'}
        stored = size if rotation in (0, 180) else size[::-1]
        stream.width, stream.height = stored
        stream.pix_fmt = 'yuv420p'
        time_base = fractions.Fraction(1, 90000)
        stream.codec_context.time_base = time_base if times is not None else 1 / rate
        if rotation:
            stream.set_display_rotation(rotation)
        for i in range(frames):
            image = index_frame(i, size)
            if rotation:  # store it so that turning it by ``rotation`` counter-clockwise shows it upright
                image = np.ascontiguousarray(np.rot90(image, k=-rotation // 90))
            frame = av.VideoFrame.from_ndarray(image, format='bgr24')
            if times is not None:
                frame.pts, frame.time_base = int(round(times[i] * 90000)), time_base
            else:
                frame.pts, frame.time_base = i, 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return Path(path)


def garble_video(mp4, out) -> Path:
    """A copy of an mp4 whose container (moov) is intact and whose video data (mdat) is noise."""
    data = bytearray(Path(mp4).read_bytes())
    at = data.index(b'mdat')
    size = int.from_bytes(data[at - 4:at], 'big')
    data[at + 4:at - 4 + size] = np.random.default_rng(0).integers(0, 256, size - 8, dtype=np.uint8).tobytes()
    Path(out).write_bytes(bytes(data))
    return Path(out)


# ------------------------------------------------------------------ end-to-end data
SCRIPT = str(ROOT / 'scripts' / '3b_extract_mmpose.py')
# (video, fps, frames): 30 and 25 fps are accepted, 10 fps is not
VIDEOS = [('v30', 30.0, 75), ('v25', 25.0, 40), ('v50', 50.0, 60), ('v10', 10.0, 20)]
GOOD = {  # sentence: (video, start, end)
    'v30_a': ('v30', 0.0, 0.8), 'v30_b': ('v30', 0.5, 1.2), 'v30_c': ('v30', 2.0, 2.5),
    'v25_a': ('v25', 0.3, 1.1), 'v50_a': ('v50', 0.1, 0.6),
}
MANIFEST_ROWS = [f'{v}\t{s}\t{a}\t{b}' for s, (v, a, b) in GOOD.items()] + [
    'v10\tslow\t0\t1', 'broken\tcorrupt\t0\t1', 'nowhere\tmissing\t0\t1', 'v30\ttiny\t0\t0.1',
    'v30\tnot_a_time\tabc\t1', 'v30\tbackwards\t2\t1', '\tno_video\t0\t1']


@pytest.fixture(scope='session')
def data(tmp_path_factory):
    from tests.support.seeded_weights import make_seeded_checkpoint
    d = tmp_path_factory.mktemp('e2e')
    (d / 'videos').mkdir()
    for name, fps, frames in VIDEOS:
        write_video(d / 'videos' / f'{name}.mp4', frames, fps, seed=int(fps))
    (d / 'videos' / 'broken.mp4').write_bytes(b'\x00\x00\x00\x18ftypmp42' + os.urandom(3000))
    (d / 'manifest.tsv').write_text('VIDEO_NAME\tSENTENCE_NAME\tSTART\tEND\n' + '\n'.join(MANIFEST_ROWS) + '\n')
    # With random weights RTMDet finds boxes everywhere: a test detector derived from the
    # project's RTMDet-nano keeps at most 1 (or 2) boxes per frame, so the person count is set.
    for n in (1, 2):
        (d / f'det{n}.py').write_text(
            f"_base_ = {RTMDET_NANO_PERSON!r}\n"
            f"model = dict(bbox_head=dict(exp_on_reg=True), test_cfg=dict(score_thr=0.0, max_per_img={n}))\n")
    make_seeded_checkpoint('det', str(d / 'det1.py'), d / 'det.pth')
    make_seeded_checkpoint('pose', RTMW3D_L, d / 'pose.pth')
    return d


def options(data, npy, det='det1.py', **extra):
    values = dict(CSV_FILE=data / 'manifest.tsv', VIDEO_DIR=data / 'videos', NPY_DIR=npy,
                  DET_MODEL_CONFIG=data / det, DET_MODEL_CHECKPOINT=data / 'det.pth',
                  POSE_MODEL_CHECKPOINT=data / 'pose.pth', BBOX_THR=0.0, DEVICE='cpu', POSE_BATCH_SIZE=4)
    values.update(extra)
    return ['--cfg-options'] + [f'{k}={v}' for k, v in values.items()]


def run_stage(args, **kwargs):
    return subprocess.run([sys.executable, SCRIPT, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, **kwargs)


def seeded_models(folder, device: str = 'cpu'):
    """Seeded RTMDet-nano (one box per frame) and RTMW3D-L, loaded through the stage's own code."""
    from signpose.nets.loading import LoadedModels, load_detector, load_pose_model
    from tests.support.seeded_weights import make_seeded_checkpoint
    folder = Path(folder)
    (folder / 'det.py').write_text(f"_base_ = {RTMDET_NANO_PERSON!r}\n"
                                   "model = dict(bbox_head=dict(exp_on_reg=True), test_cfg=dict(max_per_img=1))\n")
    det = load_detector(str(folder / 'det.py'),
                        str(make_seeded_checkpoint('det', str(folder / 'det.py'), folder / 'det.pth')), device)
    pose = load_pose_model(RTMW3D_L, str(make_seeded_checkpoint('pose', RTMW3D_L, folder / 'pose.pth', salt=5)), device)
    return LoadedModels(det, pose, device)


def networks_for(models, settings, speedups: bool = True):
    """(the stage's networks of loaded models, what ``devices.resolve`` decides for the settings)."""
    from signpose.config import Options
    from signpose.nets.devices import resolve
    from signpose.nets.inference import build_networks
    options = Options.of(settings)
    decided = resolve(options.compute, models.device)
    return build_networks(models, options.models, decided, options.compute.runtime_cache, speedups), decided


def extractor_for(models, settings, speedups: bool = True):
    """An Extractor around the stage's networks of loaded models (as a worker has them)."""
    from signpose.api import Extractor
    from signpose.config import Options
    networks, decided = networks_for(models, settings, speedups)
    return Extractor.around(networks, Options.of(settings), decided)


def run_engine(task, models, settings, stats=None) -> list:
    """The outcomes of the stage's engine and writer on one video task, as a worker runs them."""
    from signpose.run.work import process_video
    extractor = extractor_for(models, settings)
    return list(process_video(task, extractor, extractor.options.output, stats))


def kill_when_written(args, folder, pattern: str) -> None:
    """Start the real script and SIGKILL it as soon as a file matching ``pattern`` is in ``folder``."""
    process = subprocess.Popen([sys.executable, SCRIPT, *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not list(Path(folder).glob(pattern)) and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()


def npy_files(folder):
    return {p.stem: np.load(p) for p in sorted(folder.glob('*.npy'))}


@pytest.fixture(scope='session')
def first_run(data):
    npy = data / 'npy_full'
    result = run_stage(options(data, npy))
    assert result.returncode == 0, result.stdout + result.stderr
    return npy, result



@pytest.fixture(scope='session')
def scene():
    return cv2.imread(str(FIXTURES / 'scene.png'))


def pytest_configure(config):
    # the OpenMMLab stack's own deprecation noise, not the project's
    for pattern in ('ignore::DeprecationWarning', 'ignore::FutureWarning',
                    'ignore:.*pkg_resources.*:UserWarning', 'ignore:.*meshgrid.*:UserWarning',
                    'ignore:.*dataset_meta or class names.*:UserWarning'):
        config.addinivalue_line('filterwarnings', pattern)
