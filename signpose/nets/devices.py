"""The one place that decides where and how the networks run: device, CPU threads, batch sizes,
host threads. ``resolve`` turns the configured settings (``None``: decide for me) into a
``Decided``: what one worker runs with, made once per worker and printed by the banner."""
import contextlib
import os
import warnings
from dataclasses import dataclass
from typing import List, Optional

import torch

from signpose.config import Compute, first_device

BATCH_SIZES = {'cpu': (1, 2), 'cuda': (16, 64)}  # (detector frames, pose crops) when not set


def pick_device(device, warn: bool = True) -> str:
    """The device the models will run on: DEVICE (the first of a list), or the CPU without CUDA."""
    device = first_device(device)
    if device.startswith('cuda') and not torch.cuda.is_available():
        if warn:
            warnings.warn(f'DEVICE={device!r} but CUDA is not available: running on the CPU', stacklevel=2)
        return 'cpu'
    return device


def cpu_threads(compute: Compute) -> int:
    """Torch threads per worker: CPU_THREADS, or the cores divided among MAX_WORKERS."""
    if compute.cpu_threads:
        return int(compute.cpu_threads)
    return max(1, (os.cpu_count() or 1) // max(1, int(compute.workers)))


def worker_devices(device, workers: int) -> List[str]:
    """The device of each local worker process. A DEVICE list is cycled; 'cuda' or 'cuda:0' on a
    machine with n GPUs puts worker i on GPU i mod n; any other device is shared by all."""
    if isinstance(device, (list, tuple)):
        return [str(device[i % len(device)]) for i in range(workers)]
    gpus = torch.cuda.device_count() if str(device) in ('cuda', 'cuda:0') else 0
    if gpus > 1:
        return [f'cuda:{i % gpus}' for i in range(workers)]
    return [str(device)] * workers


@dataclass(frozen=True)
class Decided:
    """How one worker runs the networks; no ``None`` left (those are the settings' "decide for me")."""
    device: str  # 'cpu', 'cuda:1', ...
    cpu_threads: int  # torch threads (and a runtime's)
    det_batch_size: int  # frames per detector call
    pose_batch_size: int  # person crops per pose call
    host_threads: bool  # prepare frames and crops in threads beside the networks
    precision: str  # 'fp32', 'fp16', 'bf16'
    backend: str  # 'pytorch', 'onnxruntime', 'openvino'

    @property
    def cuda(self) -> bool:
        return self.device.startswith('cuda')


def resolve(compute: Compute, device: Optional[str] = None, warn: bool = True) -> Decided:
    """What a worker runs with: DEVICE picked (``device``, or the first configured one, or the CPU
    without CUDA), CPU_THREADS, the batch sizes of that device, and HOST_THREADS (by default on
    CUDA only: on the CPU the networks use every core, and threads beside them slow them down)."""
    device = pick_device(compute.device if device is None else device, warn=warn)
    cuda = device.startswith('cuda')
    det, pose = BATCH_SIZES['cuda' if cuda else 'cpu']
    return Decided(device=device, cpu_threads=cpu_threads(compute),
                   det_batch_size=compute.det_batch_size or det, pose_batch_size=compute.pose_batch_size or pose,
                   host_threads=cuda if compute.host_threads is None else bool(compute.host_threads),
                   precision=compute.precision, backend=compute.backend)


def precision_problem(compute: Compute) -> Optional[str]:
    """bf16 autocast on a CPU without native bf16 is emulated: tens of times slower."""
    if compute.precision == 'bf16' and not compute.first_device.startswith('cuda'):
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return ('PRECISION=bf16 but this CPU has no native bf16 (AVX512-BF16/AMX): it would run '
                    'about 50x slower than fp32; use PRECISION=fp32')
    return None


@contextlib.contextmanager
def non_blocking_copies(model, enabled: bool):
    """Page-locked inputs let the copies to the GPU run asynchronously: for this call only, the
    model's data preprocessor copies without waiting (restored after: the model is shared)."""
    preprocessor = model.data_preprocessor
    saved = preprocessor._non_blocking
    preprocessor._non_blocking = saved or enabled
    try:
        yield
    finally:
        preprocessor._non_blocking = saved


def pinned(tensors, cuda: bool) -> list:
    """The tensors in page-locked memory on CUDA (for ``non_blocking_copies``), else as they are."""
    return [t.pin_memory() for t in tensors] if cuda else list(tensors)
