"""Loading the detector (any mmdet config) and the pose model (any mmpose top-down config)."""
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import List

import torch

from signpose.config import Settings
from signpose.nets.checkpoints import install_safe_checkpoint_loader
from signpose.nets.devices import Decided
from signpose.nets.mmcv_lite import FULL_OPS, is_lite, missing_ops


class SetupError(RuntimeError):
    """Something to fix before any work can start (missing checkpoint, package, config)."""


def quiet_library_warnings() -> None:
    """The OpenMMLab stack's deprecation notices are not for the stage's users; ours stay."""
    for category in (DeprecationWarning, FutureWarning):
        warnings.filterwarnings('ignore', category=category)
    for message in ('.*pkg_resources', '.*meshgrid', 'The metainfo config file',
                    'checkpoint is None'):
        warnings.filterwarnings('ignore', message=message)


def dependency_problems() -> List[str]:
    """The stack's packages that do not import, each with the fix."""
    problems = []
    for module in ('torch', 'cv2', 'mmengine', 'mmcv.ops', 'mmdet.apis', 'mmpose.apis'):
        try:
            __import__(module)
        except Exception as err:  # ImportError, or a broken binary extension
            problems.append(f'cannot import {module} ({err}) -> install the stack with: bash setup.sh')
    return problems


def model_file_problems(settings: Settings) -> List[str]:
    """Model configs and checkpoints that are not there, each one line naming the fix."""
    problems = []
    for kind, config, checkpoint in (('DET', settings.DET_MODEL_CONFIG, settings.DET_MODEL_CHECKPOINT),
                                     ('POSE', settings.POSE_MODEL_CONFIG, settings.POSE_MODEL_CHECKPOINT)):
        if not Path(config).is_file():
            problems.append(f'{kind}_MODEL_CONFIG not found: {config}')
        if not Path(checkpoint).is_file():
            problems.append(f'{kind}_MODEL_CHECKPOINT not found: {checkpoint} -> download it with: '
                            f'python scripts/download_models.py')
    return problems


def _load_strict(model, checkpoint: str, what: str) -> dict:
    """Load weights strictly: a checkpoint of another architecture must never run half-random."""
    from mmengine.runner import load_checkpoint
    install_safe_checkpoint_loader()  # OpenMMLab checkpoints hold numpy metadata: unpickled safely
    try:
        return load_checkpoint(model, checkpoint, map_location='cpu', strict=True, logger='silent')
    except RuntimeError as err:
        lines = [line.strip() for line in str(err).splitlines()
                 if any(word in line for word in ('unexpected', 'missing', 'size mismatch'))]
        detail = '; '.join(lines)[:300] or str(err)[:300]
        raise SetupError(f'{what} checkpoint {checkpoint} does not fit its config ({detail}): '
                         f'is it the checkpoint of this model? Download the right one with: '
                         f'python scripts/download_models.py') from None


def _nms_types(cfg) -> List[str]:
    """Every ``nms=dict(type=...)`` in a model config (test_cfg, rpn, rcnn, ...)."""
    found = []
    if isinstance(cfg, dict):
        for key, value in cfg.items():
            if key == 'nms' and isinstance(value, dict) and 'type' in value:
                found.append(str(value['type']))
            found.extend(_nms_types(value))
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            found.extend(_nms_types(value))
    return found


def check_ops(model, config: str, setting: str) -> None:
    """A model whose layers or post-processing need compiled mmcv ops that this install lacks
    (mmcv-lite has only the stage's NMS) stops the stage at start-up, naming them."""
    if not is_lite():
        return
    needs = missing_ops(model) + [f'{kind} (its post-processing)' for kind in _nms_types(model.cfg.get('model', {}))
                                  if kind != 'nms']
    if needs:
        raise SetupError(f'{setting} {config} needs mmcv ops this install does not have: '
                         f'{"; ".join(needs)} -> install mmcv\'s compiled ops with: {FULL_OPS}')


def load_detector(config: str, checkpoint: str, device: str = 'cpu'):
    from mmdet.apis import init_detector

    # the weights are loaded next, so mmdet's "checkpoint is None" says nothing to a user; it calls
    # warnings.simplefilter('once') first, which beats any filter: recorded, and the others re-issued
    with warnings.catch_warnings(record=True) as caught:
        model = init_detector(config, None, device='cpu')
    for warning in caught:
        if not str(warning.message).startswith('checkpoint is None'):
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    check_ops(model, config, 'DET_MODEL_CONFIG')
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
    check_ops(model, config, 'POSE_MODEL_CONFIG')
    meta = _load_strict(model, checkpoint, 'pose model').get('meta', {})
    if 'dataset_meta' in meta:
        model.dataset_meta = meta['dataset_meta']
    return model.to(device).eval()


@dataclass
class LoadedModels:
    detector: torch.nn.Module
    pose: torch.nn.Module
    device: str


def load_models(settings: Settings, decided: Decided, log=print) -> LoadedModels:
    """Both models of the stage (the files the settings name) on the device, with the CPU threads,
    ``devices.resolve`` decided."""
    quiet_library_warnings()
    torch.set_num_threads(decided.cpu_threads)  # the same in every executor: same bits
    device = decided.device
    detector = load_detector(settings.DET_MODEL_CONFIG, settings.DET_MODEL_CHECKPOINT, device)
    log(f'Loaded detector {Path(settings.DET_MODEL_CONFIG).name} <- {Path(settings.DET_MODEL_CHECKPOINT).name} on {device}')
    pose = load_pose_model(settings.POSE_MODEL_CONFIG, settings.POSE_MODEL_CHECKPOINT, device)
    log(f'Loaded pose model {Path(settings.POSE_MODEL_CONFIG).name} <- {Path(settings.POSE_MODEL_CHECKPOINT).name} on {device}')
    return LoadedModels(detector, pose, device)
