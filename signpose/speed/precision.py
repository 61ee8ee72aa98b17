"""What PRECISION means on each device, switched on only for the duration of the networks' calls.

- 'fp32' (the default) is IEEE float32 everywhere. On the CPU nothing needs doing; on CUDA torch
  lets cuDNN convolutions use TF32 (10-bit mantissa, about 1e-3 relative error) unless told
  otherwise, so TF32 is switched off for convolutions and matmuls while the networks run.
- 'fp16' (CUDA) and 'bf16' (CPU with native bf16) run the backbones and necks under autocast.
  The heads stay float32: RTMDet's outputs are cast up before box decoding and NMS, and the
  RTMW3D head runs in float32 on float32 inputs. Its 7x7 convolutions feed ScaleNorm, which
  divides each keypoint map by its (often small) norm, and its logits decide the keypoint by an
  argmax over neighbouring bins that half precision would round together.

Nothing is changed for good: every switch is undone when the call returns.
"""
import contextlib

import torch


def device_type(device) -> str:
    return 'cuda' if str(device).startswith('cuda') else 'cpu'


def _tf32_flags():
    """The (object, attribute) pairs that allow TF32 on CUDA, in the API this torch has."""
    conv = getattr(torch.backends.cudnn, 'conv', None)
    if conv is not None and hasattr(conv, 'fp32_precision'):  # torch >= 2.9; do not mix with the old API
        return [(torch.backends.cuda.matmul, 'fp32_precision', 'ieee'), (conv, 'fp32_precision', 'ieee'),
                (torch.backends.cudnn.rnn, 'fp32_precision', 'ieee')]
    return [(torch.backends.cuda.matmul, 'allow_tf32', False), (torch.backends.cudnn, 'allow_tf32', False)]


@contextlib.contextmanager
def ieee_fp32():
    """TF32 off for cuDNN convolutions and CUDA matmuls; the previous flags restored after."""
    flags = _tf32_flags()
    saved = [getattr(owner, name) for owner, name, _ in flags]
    for owner, name, value in flags:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for (owner, name, _), value in zip(flags, saved):
            setattr(owner, name, value)


def precision_context(precision: str, device):
    """The networks' arithmetic for PRECISION on ``device``: autocast for the opt-in reduced
    precisions, IEEE fp32 on CUDA for 'fp32', nothing to change for 'fp32' on the CPU."""
    if precision in (None, 'fp32'):
        return ieee_fp32() if device_type(device) == 'cuda' else contextlib.nullcontext()
    dtype = {'fp16': torch.float16, 'bf16': torch.bfloat16}[precision]
    return torch.autocast(device_type=device_type(device), dtype=dtype)


def _outputs_to_float32(module, args, outputs):
    if isinstance(outputs, torch.Tensor):
        return outputs.float()
    if isinstance(outputs, (list, tuple)):
        return type(outputs)(_outputs_to_float32(module, args, o) for o in outputs)
    return outputs


def _float32_forward(forward, device):
    """``forward`` run without autocast on float32 copies of its (tuple of tensors) input."""
    def run(feats):
        with torch.autocast(device_type=device_type(device), enabled=False):
            return forward(tuple(f.float() for f in feats))
    return run


@contextlib.contextmanager
def float32_heads(detector, pose, precision: str, device):
    """Under a reduced precision: the detector head's outputs and the whole pose head in float32.

    Either model may be None (only the other is called). fp32: nothing to do.
    """
    if precision in (None, 'fp32'):
        yield
        return
    hooks, saved = [], []
    det_head = getattr(detector, 'bbox_head', None)
    if isinstance(det_head, torch.nn.Module):
        hooks.append(det_head.register_forward_hook(_outputs_to_float32))
    pose_head = getattr(pose, 'head', None)
    if isinstance(pose_head, torch.nn.Module):
        saved.append((pose_head, pose_head.__dict__.get('forward')))
        pose_head.forward = _float32_forward(pose_head.forward, device)
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()
        for module, forward in saved:
            if forward is None:
                module.__dict__.pop('forward', None)
            else:
                module.forward = forward
