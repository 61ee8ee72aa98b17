"""Loading the detector (any mmdet config), the pose model (any mmpose top-down config) and, for the
hand pass, the hand model (any mmpose top-down config of 21 hand keypoints)."""
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import torch

from signpose.common.errors import SetupError
from signpose.config import Models
from signpose.install.checkpoints import install_safe_checkpoint_loader
from signpose.install.download import DownloadError, ensure_checkpoint
from signpose.nets.devices import Decided
from signpose.install.mmcv_lite import FULL_OPS, is_lite, missing_ops


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


def model_file_problems(models: Models) -> List[str]:
    """Model configs that are not there, and checkpoints that are not there and have no link to be
    downloaded from (``ensure_checkpoints`` fetches the others), each one line naming the fix."""
    problems = []
    for kind, files in models.files():
        if not Path(files.config).is_file():
            problems.append(f'{kind}_MODEL_CONFIG not found: {files.config}')
        if not Path(files.checkpoint).is_file() and not files.link:
            problems.append(f'{kind}_MODEL_CHECKPOINT not found: {files.checkpoint}, and {kind}_MODEL_CHECKPOINT_LINK '
                            f'is empty -> copy the checkpoint there, or set {kind}_MODEL_CHECKPOINT_LINK')
    return problems


def ensure_checkpoints(models: Models, log=print) -> None:
    """Download each missing checkpoint from its link (progress bar, SHA-256 checked, written
    atomically; install/download.py); SetupError in one line naming the file, the link and the fix
    when that fails."""
    for kind, files in models.files():
        try:
            ensure_checkpoint(files.checkpoint, files.link, log=log, setting=f'{kind}_MODEL_CHECKPOINT')
        except DownloadError as err:
            raise SetupError(str(err)) from None


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


HAND_KEYPOINTS = 21  # a hand model's keypoints: COCO-WholeBody's 91-111 (left) and 112-132 (right), in order


def hand_model_problem(model, config: str) -> Optional[str]:
    """Why the model of HAND_MODEL_CONFIG cannot be the hand pass's (one line), or None: it must be an
    mmpose top-down estimator of 21 keypoints (a hand model), without heatmap outputs."""
    from mmpose.models.pose_estimators import TopdownPoseEstimator
    name = Path(config).name
    if not isinstance(model, TopdownPoseEstimator):
        return (f'HAND_MODEL_CONFIG {name} is not an mmpose top-down model ({type(model).__name__}): '
                f'the hand pass needs one of 21 hand keypoints, e.g. RTMPose-m hand5 (docs/hands.md)')
    count = (getattr(model, 'dataset_meta', None) or {}).get('num_keypoints')
    channels = getattr(getattr(model, 'head', None), 'out_channels', count)
    if count != HAND_KEYPOINTS or channels != HAND_KEYPOINTS:
        return (f'HAND_MODEL_CONFIG {name} estimates {channels if channels != HAND_KEYPOINTS else count} keypoints, '
                f'not the 21 of a hand: use a hand config, e.g. RTMPose-m hand5 (docs/hands.md)')
    return None


def load_hand_model(config: str, checkpoint: str, device: str = 'cpu'):
    """The hand pass's model: a 21-keypoint mmpose top-down model, its checkpoint loaded strictly;
    SetupError in one line when the config is no such model or the checkpoint does not fit it."""
    from mmpose.apis import init_model
    try:
        with warnings.catch_warnings():  # mmpose finds the hand data set's meta file in its package: expected
            warnings.filterwarnings('ignore', message='The metainfo config file')
            model = init_model(config, None, device='cpu')
    except Exception as err:  # not an mmpose model config at all
        raise SetupError(f'HAND_MODEL_CONFIG {config} is not an mmpose model config '
                         f'({type(err).__name__}: {err})'[:400]) from None
    problem = hand_model_problem(model, config)
    if problem:
        raise SetupError(problem)
    check_ops(model, config, 'HAND_MODEL_CONFIG')
    meta = _load_strict(model, checkpoint, 'hand model').get('meta', {})
    if 'dataset_meta' in meta:
        model.dataset_meta = meta['dataset_meta']
    return model.to(device).eval()


@dataclass
class LoadedModels:
    detector: torch.nn.Module
    pose: torch.nn.Module
    device: str
    hand: Optional[torch.nn.Module] = None  # HAND_MODEL_CONFIG's model, for the hand pass


def load_models(models: Models, decided: Decided, log=print) -> LoadedModels:
    """Both models (the files ``models`` names) on the device, with the CPU threads, ``devices.resolve``
    decided."""
    quiet_library_warnings()
    torch.set_num_threads(decided.cpu_threads)  # the same in every executor: same bits
    device, det, pose = decided.device, models.detector, models.pose
    detector = load_detector(det.config, det.checkpoint, device)
    log(f'Loaded detector {Path(det.config).name} <- {Path(det.checkpoint).name} on {device}')
    pose_model = load_pose_model(pose.config, pose.checkpoint, device)
    log(f'Loaded pose model {Path(pose.config).name} <- {Path(pose.checkpoint).name} on {device}')
    hand_model = None
    if models.hand is not None:
        hand_model = load_hand_model(models.hand.config, models.hand.checkpoint, device)
        log(f'Loaded hand model {Path(models.hand.config).name} <- {Path(models.hand.checkpoint).name} on {device}')
    return LoadedModels(detector, pose_model, device, hand_model)
