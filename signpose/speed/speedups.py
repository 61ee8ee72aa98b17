"""Faster ways to compute the very same values, used by the engine only.

Each rewrite gives bit-identical network outputs: ``tests/test_speedups.py`` compares them with
the models' own forward passes. They are switched on only for the duration of an engine call
(``Speedups.active``), so the per-frame reference loop always runs the models as the libraries
ship them.

- SPP blocks (CSPNeXt in RTMDet and RTMW3D): max pools of 5, 9 and 13 taken side by side equal
  a cascade of 5x5 pools (the max of maxes over overlapping windows), and a 5x5 max pool equals
  a 1x5 then a 5x1 one. Max is exact, so the values are identical on every device.
- RTMDet's box branch (CPU only): the detector keeps boxes only where a class scores above
  ``score_thr`` (which the engine raises to BBOX_THR), so the box branch is computed only on the
  band of rows holding such candidates, plus the rows its 3x3 convolutions look at. oneDNN's
  convolution gives each output pixel the same arithmetic whatever the image height, as long
  as PyTorch picks oneDNN for both shapes (checked per call). As kernels may differ on other
  CPUs, the first band of each shape is also computed in full and compared; a shape for which
  any bit differs is computed in full from then on.
"""
import contextlib
import functools
import types
import warnings
from typing import List, Tuple

import torch
import torch.nn.functional as F


def _cascade_steps(poolings) -> List[int]:
    """Kernel sizes of the 5x5-style pools whose cascade gives the SPP's pools, or []."""
    sizes = []
    for pool in poolings:
        if not isinstance(pool, torch.nn.MaxPool2d):
            return []
        k, s, p, d = (pool.kernel_size, pool.stride, pool.padding, pool.dilation)
        if not (isinstance(k, int) and s == 1 and p == k // 2 and d == 1 and k % 2 == 1) \
                or pool.ceil_mode or pool.return_indices:
            return []
        sizes.append(k)
    if not sizes or sizes != sorted(sizes):
        return []
    return [sizes[0]] + [b - a + 1 for a, b in zip(sizes, sizes[1:])]


def _max_pool_separable(x, k: int):
    x = F.max_pool2d(x, (1, k), 1, (0, k // 2))
    return F.max_pool2d(x, (k, 1), 1, (k // 2, 0))


def cascaded_spp_forward(self, x):
    """SPPBottleneck.forward of mmdet and mmpose, with the pools as a separable cascade."""
    x = self.conv1(x)
    with torch.autocast(device_type=x.device.type, enabled=False):
        outputs, pooled = [x], x
        for k in self._cascade_steps:
            pooled = _max_pool_separable(pooled, k)
            outputs.append(pooled)
        x = torch.cat(outputs, dim=1)
    return self.conv2(x)


@functools.lru_cache(maxsize=4096)
def _oneDNN_for(conv: torch.nn.Conv2d, shape: Tuple[int, ...]) -> bool:
    """Whether PyTorch runs ``conv`` on an input of ``shape`` with oneDNN."""
    try:
        backend = torch._C._select_conv_backend(
            torch.empty(shape), conv.weight, conv.bias, list(conv.stride), list(conv.padding),
            list(conv.dilation), False, [0, 0], conv.groups)
    except (AttributeError, RuntimeError, TypeError):
        return False
    return backend == torch._C._ConvBackend.Mkldnn


def _reach(layers) -> int:
    """Rows each side that the stacked convolutions look at, or -1 if not stride-1 'same' convs."""
    reach = 0
    for layer in layers:
        conv = getattr(layer, 'conv', None)
        if not isinstance(conv, torch.nn.Conv2d) or tuple(conv.stride) != (1, 1) \
                or tuple(conv.dilation) != (1, 1) or conv.padding[0] != conv.kernel_size[0] // 2:
            return -1
        reach += conv.kernel_size[0] // 2
    return reach


class WindowedBoxBranch:
    """RTMDetSepBNHead.forward computing the box branch only on rows holding candidates."""

    BAND_STEP = 8

    def __init__(self, head):
        self.head = head
        self.reach = _reach([layer for layers in head.reg_convs for layer in layers])
        # (level, shape, band input height) -> whether that band was found bit-identical to the
        # full branch; each is checked once, and an untrusted one is computed in full
        self.trusted = {}
        self.warned = False
        self.rows = [0, 0]  # rows of box features computed, rows in all (for the benchmark)
        self.enabled = (type(head).__name__ == 'RTMDetSepBNHead' and not head.with_objectness
                        and head.use_sigmoid_cls and self.reach >= 0 and all(head.reg_convs))

    def candidate_rows(self, cls_score) -> Tuple[int, int]:
        """A band of rows [first, last) holding every position where some class may score above
        score_thr (with a margin for rounding), its height a multiple of BAND_STEP (few shapes,
        so few checks); (0, 0) if there is none."""
        score_thr = float(self.head.test_cfg.get('score_thr', 0.0)) if self.head.test_cfg else 0.0
        rows = (cls_score.sigmoid() > score_thr * (1 - 1e-3)).flatten(0, 1).any(dim=-1).any(dim=0)
        found = torch.nonzero(rows).flatten()
        if found.numel() == 0:
            return 0, 0
        first, last, height = int(found[0]), int(found[-1]) + 1, len(rows)
        size = min(height, -(-(last - first) // self.BAND_STEP) * self.BAND_STEP)
        first = min(first, height - size)
        return first, first + size

    def box_rows(self, idx: int, x, first: int, last: int):
        """Box-branch features for rows [first, last) of level idx, or None if not exact there."""
        height = x.shape[2]
        top, bottom = max(0, first - self.reach), min(height, last + self.reach)
        feat = x[:, :, top:bottom]
        for layer in self.head.reg_convs[idx]:
            if not (_oneDNN_for(layer.conv, tuple(feat.shape)) and _oneDNN_for(layer.conv, tuple(x.shape))):
                return None
            feat = layer(feat)
        return feat[:, :, first - top:last - top]

    def full_box_features(self, idx: int, x):
        feat = x
        for layer in self.head.reg_convs[idx]:
            feat = layer(feat)
        return feat

    def __call__(self, feats):
        head = self.head
        cls_scores, bbox_preds = [], []
        for idx, (x, stride) in enumerate(zip(feats, head.prior_generator.strides)):
            cls_feat = x
            for cls_layer in head.cls_convs[idx]:
                cls_feat = cls_layer(cls_feat)
            cls_score = head.rtm_cls[idx](cls_feat)
            first, last = self.candidate_rows(cls_score)
            height = x.shape[2]
            self.rows[1] += height
            key = (idx, tuple(x.shape), min(height, last + self.reach) - max(0, first - self.reach))
            band = None
            if 0 < last - first < height and self.trusted.get(key, True):
                band = self.box_rows(idx, x, first, last)
            if last == first:  # no candidate on this level: no box is read
                reg_feat = x.new_zeros(x.shape[:1] + (head.reg_convs[idx][-1].conv.out_channels, ) + x.shape[2:])
            elif band is None:
                reg_feat = self.full_box_features(idx, x)
                self.rows[0] += height
            else:
                # rows without candidates are never read by the post-processing; zeros keep the
                # 1x1 prediction conv on the full shape, so it runs the same kernel as unwindowed
                reg_feat = band.new_zeros(band.shape[:2] + x.shape[2:])
                reg_feat[:, :, first:last] = band
                self.rows[0] += last - first
                if key not in self.trusted:
                    self.trusted[key] = self.check(idx, x, reg_feat, first, last)
            reg_dist = head.rtm_reg[idx](reg_feat)
            reg_dist = (reg_dist.exp() if head.exp_on_reg else reg_dist) * stride[0]
            cls_scores.append(cls_score)
            bbox_preds.append(reg_dist)
        return tuple(cls_scores), tuple(bbox_preds)

    def check(self, idx, x, reg_feat, first, last) -> bool:
        """Compare a band with the full branch; on any difference use the full values."""
        full = self.full_box_features(idx, x)
        identical = torch.equal(full[:, :, first:last], reg_feat[:, :, first:last])
        if not identical:
            reg_feat[:, :, first:last] = full[:, :, first:last]
            if not self.warned:
                self.warned = True
                warnings.warn(f'on this CPU the box branch computed on a band of {last - first} rows differs '
                              f'from the full one: bands of that shape are computed in full (others are '
                              f'checked the same way)', stacklevel=2)
        return identical


class Speedups:
    """The rewrites that apply to a detector and a pose model; ``active()`` switches them on."""

    def __init__(self, detector, pose, device: str, precision: str = 'fp32', enabled: bool = True):
        self.patches = []
        if not enabled:
            return
        for model in (m for m in (detector, pose) if isinstance(m, torch.nn.Module)):
            for module in model.modules():
                if type(module).__name__ == 'SPPBottleneck' and hasattr(module, 'poolings'):
                    steps = _cascade_steps(module.poolings)
                    if steps:
                        module._cascade_steps = steps
                        self.patches.append((module, types.MethodType(cascaded_spp_forward, module)))
        head = getattr(detector, 'bbox_head', None)
        if str(device) == 'cpu' and precision in (None, 'fp32') and head is not None:
            self.box_branch = WindowedBoxBranch(head)
            if self.box_branch.enabled:
                self.patches.append((head, self.box_branch))

    @contextlib.contextmanager
    def active(self):
        saved = [(module, module.__dict__.get('forward')) for module, _ in self.patches]
        for module, forward in self.patches:
            module.forward = forward
        try:
            yield
        finally:
            for module, forward in saved:
                if forward is None:
                    module.__dict__.pop('forward', None)
                else:
                    module.forward = forward
