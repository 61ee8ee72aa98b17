"""Deterministic stand-in weights, for tests and benchmarks where official checkpoints are absent.

The rule is the one the reference golden outputs were made with, so any implementation with
the same state-dict names and shapes rebuilds the same weights. Models with such weights
compute meaningless poses: the stage never makes them by itself; only tests and the
benchmark (which says so) do.
"""
import math
import zlib
from pathlib import Path

import torch


def seeded_state_dict(model: torch.nn.Module, salt: int = 0) -> dict:
    state = {}
    for name, tensor in model.state_dict().items():
        generator = torch.Generator().manual_seed((zlib.crc32(name.encode()) ^ salt) & 0xFFFFFFFF)
        shape = tuple(tensor.shape)
        if name.endswith('num_batches_tracked'):
            value = torch.zeros(shape)
        elif name.endswith('running_var'):
            value = 0.5 + torch.rand(shape, generator=generator)
        elif name.endswith('running_mean'):
            value = 0.1 * torch.randn(shape, generator=generator)
        elif len(shape) >= 2:
            value = torch.randn(shape, generator=generator) / math.sqrt(tensor.numel() // shape[0])
        else:
            leaf = name.rsplit('.', 1)[-1]
            base = 1.0 if leaf in ('weight', 'scale', 'g') else 0.0
            value = base + 0.1 * torch.randn(shape, generator=generator)
        state[name] = value.to(tensor.dtype)
    return state


def save_openmmlab_checkpoint(state_dict: dict, path, dataset_meta: dict = None) -> Path:
    """Save as OpenMMLab releases do: {'state_dict': ..., 'meta': {'dataset_meta': ..., ...}}."""
    meta = dict(mmengine_version='0.10.7', epoch=270, iter=0, seed=2024)
    if dataset_meta is not None:
        meta['dataset_meta'] = dataset_meta
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(meta=meta, state_dict=state_dict), path)
    return path


def make_seeded_checkpoint(kind: str, config: str, path, salt: int = 0) -> Path:
    """Build the model of ``config`` (kind 'det' or 'pose'), seed it and save a checkpoint."""
    if kind == 'det':
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
        from mmengine.config import Config
        register_all_modules(init_default_scope=False)
        model = MODELS.build(Config.fromfile(config).model)
        classes = Config.fromfile(config).get('test_dataloader', {}).get('dataset', {}).get(
            'metainfo', {}).get('classes', None)
        meta = dict(classes=tuple(classes)) if classes else None
    else:
        from mmpose.apis import init_model
        model = init_model(config, None, device='cpu')
        meta = model.dataset_meta
    return save_openmmlab_checkpoint(seeded_state_dict(model, salt), path, meta)
