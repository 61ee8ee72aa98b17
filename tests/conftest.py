"""Shared test fixtures: the project on sys.path, seeded checkpoints, small real videos."""
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / 'fixtures'
sys.path.insert(0, str(ROOT))

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


@pytest.fixture(scope='session')
def scene():
    return cv2.imread(str(FIXTURES / 'scene.png'))


def pytest_configure(config):
    # the OpenMMLab stack's own deprecation noise, not the project's
    for pattern in ('ignore::DeprecationWarning', 'ignore::FutureWarning',
                    'ignore:.*pkg_resources.*:UserWarning', 'ignore:.*meshgrid.*:UserWarning',
                    'ignore:.*TF32.*:UserWarning', 'ignore:.*dataset_meta or class names.*:UserWarning'):
        config.addinivalue_line('filterwarnings', pattern)
