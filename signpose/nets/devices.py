"""The one place that decides where and how the networks run: device, CPU threads, batch sizes,
host threads. ``resolve`` turns the configured settings into those a worker runs with (and the
banner prints)."""
import os
import warnings
from typing import List, Optional

import torch

BATCH_SIZES = {'cpu': (1, 2), 'cuda': (16, 64)}  # (detector frames, pose crops) when not set


def first_device(device) -> str:
    """DEVICE, or the first of a DEVICE list."""
    return str(device[0]) if isinstance(device, (list, tuple)) else str(device)


def pick_device(device, warn: bool = True) -> str:
    """The device the models will run on: DEVICE (the first of a list), or the CPU without CUDA."""
    device = first_device(device)
    if device.startswith('cuda') and not torch.cuda.is_available():
        if warn:
            warnings.warn(f'DEVICE={device!r} but CUDA is not available: running on the CPU', stacklevel=2)
        return 'cpu'
    return device


def cpu_threads(settings) -> int:
    """Torch threads per worker: CPU_THREADS, or the cores divided among MAX_WORKERS."""
    if settings.CPU_THREADS:
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


def resolve(settings, device: Optional[str] = None, warn: bool = True):
    """The settings as a worker runs them: DEVICE picked (``device``, or the first configured one, or
    the CPU without CUDA), CPU_THREADS, the batch sizes of that device, and HOST_THREADS (by default
    on CUDA only: on the CPU the networks use every core, and threads beside them slow them down)."""
    device = pick_device(settings.DEVICE if device is None else device, warn=warn)
    cuda = device.startswith('cuda')
    det, pose = BATCH_SIZES['cuda' if cuda else 'cpu']
    return settings.replace(
        DEVICE=device, CPU_THREADS=cpu_threads(settings),
        DET_BATCH_SIZE=settings.DET_BATCH_SIZE or det, POSE_BATCH_SIZE=settings.POSE_BATCH_SIZE or pose,
        HOST_THREADS=cuda if settings.HOST_THREADS is None else bool(settings.HOST_THREADS))


def precision_problem(settings) -> Optional[str]:
    """bf16 autocast on a CPU without native bf16 is emulated: tens of times slower."""
    if settings.PRECISION == 'bf16' and not first_device(settings.DEVICE).startswith('cuda'):
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return ('PRECISION=bf16 but this CPU has no native bf16 (AVX512-BF16/AMX): it would run '
                    'about 50x slower than fp32; use PRECISION=fp32')
    return None
