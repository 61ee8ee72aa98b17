"""Loading the detector (any mmdet config) and the pose model (any mmpose top-down config)."""
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import List

import torch

from signpose.nets.checkpoints import install_safe_checkpoint_loader
from signpose.nets.nms_fallback import ensure_device_nms


class SetupError(RuntimeError):
    """Something to fix before any work can start (missing checkpoint, package, config)."""


def quiet_library_warnings() -> None:
    """The OpenMMLab stack's deprecation notices are not for the stage's users; ours stay."""
    for category in (DeprecationWarning, FutureWarning):
        warnings.filterwarnings('ignore', category=category)
    for message in ('.*pkg_resources', '.*meshgrid', 'The metainfo config file',
                    'checkpoint is None'):
        warnings.filterwarnings('ignore', message=message)


def check_setup(settings) -> List[str]:
    """Problems that stop the stage before any work, each one line naming the fix."""
    problems = []
    for kind in ('DET', 'POSE'):
        config = Path(getattr(settings, f'{kind}_MODEL_CONFIG'))
        checkpoint = Path(getattr(settings, f'{kind}_MODEL_CHECKPOINT'))
        if not config.is_file():
            problems.append(f'{kind}_MODEL_CONFIG not found: {config}')
        if not checkpoint.is_file():
            problems.append(f'{kind}_MODEL_CHECKPOINT not found: {checkpoint} -> download it with: '
                            f'python scripts/download_models.py')
    return problems


def cpu_threads(settings) -> int:
    """Torch threads per worker: CPU_THREADS, or the cores divided among MAX_WORKERS."""
    if getattr(settings, 'CPU_THREADS', None):
        return int(settings.CPU_THREADS)
    return max(1, (os.cpu_count() or 1) // max(1, int(settings.MAX_WORKERS)))


def worker_devices(device, workers: int) -> List[str]:
    """The device of each local worker process. A DEVICE list is cycled; 'cuda' or 'cuda:0' on a
    machine with n GPUs puts worker i on GPU i mod n; any other device is shared by all."""
    if isinstance(device, (list, tuple)):
        return [str(device[i % len(device)]) for i in range(workers)]
    gpus = torch.cuda.device_count() if str(device) in ('cuda', 'cuda:0') else 0
    if gpus > 1:
        return [f'cuda:{i % gpus}' for i in range(workers)]
    return [str(device)] * workers


def first_device(device) -> str:
    """DEVICE, or the first of a DEVICE list."""
    return str(device[0]) if isinstance(device, (list, tuple)) else str(device)


def pick_device(device) -> str:
    device = first_device(device)
    if device.startswith('cuda') and not torch.cuda.is_available():
        warnings.warn(f'DEVICE={device!r} but CUDA is not available: running on the CPU', stacklevel=2)
        return 'cpu'
    return str(device)


def _load_strict(model, checkpoint: str, what: str) -> dict:
    """Load weights strictly: a checkpoint of another architecture must never run half-random."""
    from mmengine.runner import load_checkpoint
    try:
        return load_checkpoint(model, checkpoint, map_location='cpu', strict=True, logger='silent')
    except RuntimeError as err:
        lines = [line.strip() for line in str(err).splitlines()
                 if any(word in line for word in ('unexpected', 'missing', 'size mismatch'))]
        detail = '; '.join(lines)[:300] or str(err)[:300]
        raise SetupError(f'{what} checkpoint {checkpoint} does not fit its config ({detail}): '
                         f'is it the checkpoint of this model? Download the right one with: '
                         f'python scripts/download_models.py') from None


def load_detector(config: str, checkpoint: str, device: str = 'cpu'):
    from mmdet.apis import init_detector
    # the weights are loaded next, so mmdet's "checkpoint is None" says nothing to a user; it calls
    # warnings.simplefilter('once') first, which beats any filter: recorded, and the others re-issued
    with warnings.catch_warnings(record=True) as caught:
        model = init_detector(config, None, device='cpu')
    for warning in caught:
        if not str(warning.message).startswith('checkpoint is None'):
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    meta = _load_strict(model, checkpoint, 'detector').get('meta', {})
    if 'dataset_meta' in meta:
        model.dataset_meta = {k.lower(): v for k, v in meta['dataset_meta'].items()}
    # Once mmpose has built a model its registry scope is the default one; prefixing the
    # detector's transforms with 'mmdet.' keeps its pipeline mmdet's whatever the scope.
    from mmpose.utils import adapt_mmdet_pipeline
    model.cfg = adapt_mmdet_pipeline(model.cfg)
    return model.to(device).eval()


def load_pose_model(config: str, checkpoint: str, device: str = 'cpu'):
    from mmpose.apis import init_model
    with warnings.catch_warnings():  # mmpose finds H3WB's meta file in its package: expected
        warnings.filterwarnings('ignore', message='The metainfo config file')
        model = init_model(config, None, device='cpu')
    meta = _load_strict(model, checkpoint, 'pose model').get('meta', {})
    if 'dataset_meta' in meta:
        model.dataset_meta = meta['dataset_meta']
    return model.to(device).eval()


BATCH_SIZES = {'cpu': (1, 2), 'cuda': (16, 64)}  # (detector frames, pose crops) when not set


def for_device(settings, device: str):
    """The settings with batch sizes resolved for the device the models run on."""
    det, pose = BATCH_SIZES['cuda' if str(device).startswith('cuda') else 'cpu']
    return SimpleNamespace(**dict(vars(settings), DET_BATCH_SIZE=settings.DET_BATCH_SIZE or det,
                                  POSE_BATCH_SIZE=settings.POSE_BATCH_SIZE or pose))


@dataclass
class LoadedModels:
    detector: torch.nn.Module
    pose: torch.nn.Module
    device: str


def load_models(settings, log=print) -> LoadedModels:
    """Both models of the stage, on ``settings.DEVICE`` (or the CPU when there is no CUDA)."""
    quiet_library_warnings()
    install_safe_checkpoint_loader()
    torch.set_num_threads(cpu_threads(settings))  # the same in every executor: same bits
    device = pick_device(settings.DEVICE)
    ensure_device_nms(device, log=log)  # mmcv without CUDA ops: the detector's NMS on the CPU
    detector = load_detector(settings.DET_MODEL_CONFIG, settings.DET_MODEL_CHECKPOINT, device)
    log(f'Loaded detector {Path(settings.DET_MODEL_CONFIG).name} <- {Path(settings.DET_MODEL_CHECKPOINT).name} on {device}')
    pose = load_pose_model(settings.POSE_MODEL_CONFIG, settings.POSE_MODEL_CHECKPOINT, device)
    log(f'Loaded pose model {Path(settings.POSE_MODEL_CONFIG).name} <- {Path(settings.POSE_MODEL_CHECKPOINT).name} on {device}')
    return LoadedModels(detector, pose, device)
