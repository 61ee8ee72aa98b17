"""A stand-in for torchvision, installed by setup.sh only where no real torchvision imports.

mmpose imports torchvision at start-up for one thing, ``torchvision.transforms.ToPILImage``
in a heatmap visualiser, and PyPI's torchvision wheels do not load beside the CPU torch
2.13.0 wheel. setup.sh copies this file to ``site-packages/torchvision/__init__.py`` so that
``import mmpose.apis`` works; it provides ToPILImage (via PIL) and nothing else. Anything
else raises an ImportError that says so. Installing a real, matching torchvision replaces it.
"""
import sys
import types

import numpy as np

__version__ = '0.0.0+shim'
IS_SHIM = True


class ToPILImage:
    """Tensor or ndarray (C, H, W) / (H, W, C) / (H, W) -> PIL.Image."""

    def __init__(self, mode=None):
        self.mode = mode

    def __call__(self, pic):
        from PIL import Image
        array = pic.detach().cpu().numpy() if hasattr(pic, 'detach') else np.asarray(pic)
        if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
            array = array.transpose(1, 2, 0)
        if array.dtype.kind == 'f':
            array = (array * 255).clip(0, 255).astype(np.uint8)
        if array.ndim == 3 and array.shape[-1] == 1:
            array = array[..., 0]
        return Image.fromarray(array, mode=self.mode)


transforms = types.ModuleType('torchvision.transforms')
transforms.ToPILImage = ToPILImage
sys.modules[__name__ + '.transforms'] = transforms


def __getattr__(name):
    raise ImportError(f'torchvision.{name} is not available: this environment has only the small '
                      f'torchvision stand-in that mmpose needs (see the README, "torchvision")')
