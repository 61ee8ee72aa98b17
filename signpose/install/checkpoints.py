"""Safe loading of OpenMMLab checkpoints with torch >= 2.6.

torch loads with ``weights_only=True`` by default, and OpenMMLab checkpoints keep numpy
arrays and scalars in ``meta`` (``dataset_meta``), which that refuses. Allowing every pickle
would let a downloaded file run code. Instead:

1. every checkpoint is loaded weights-only, with numpy's array, scalar and dtype types allowed;
2. a file that still needs more (any other pickled global) loads fully only when its SHA-256
   is listed in the ``TRUSTED_SHA256`` file of its folder; the model download command adds the
   files it verified, and ``python scripts/download_models.py --trust FILE`` adds one by hand;
3. anything else is refused with a message that says exactly that.

``install_safe_checkpoint_loader()`` puts this loader behind mmengine's ``load_checkpoint``
for local files, so ``mmdet.apis.init_detector`` and ``mmpose.apis.init_model`` use it.
"""
import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import torch

TRUST_LIST_NAME = 'TRUSTED_SHA256'
PICKLED_MULTIARRAY = ('numpy.core.multiarray', 'numpy._core.multiarray')  # numpy 1, numpy 2


class UntrustedCheckpointError(RuntimeError):
    """A checkpoint needs a full (code-running) unpickle and nobody said to trust it."""


def _numpy_safe_globals() -> list:
    """The numpy types that OpenMMLab metadata pickles; they build data, never run code."""
    # taken from what numpy itself pickles with: no import of numpy.core (deprecated in numpy 2)
    reconstruct = np.ndarray((0, )).__reduce__()[0]
    scalar = np.float64(0).__reduce__()[0]
    dtype_classes = {type(np.dtype(code)) for code in '?bBhHiIlLqQefdgFDGSUV'}
    dtype_classes.add(type(np.dtype('O')))
    allowed = [np.ndarray, np.dtype, *dtype_classes]
    # a pickle names the two functions by the module they had where it was written: numpy.core
    # under numpy 1, numpy._core under numpy 2; either loads under either numpy
    for module in PICKLED_MULTIARRAY:
        allowed += [(reconstruct, f'{module}._reconstruct'), (scalar, f'{module}.scalar')]
    return allowed


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def trusted_hashes(folder) -> set:
    listing = Path(folder) / TRUST_LIST_NAME
    if not listing.is_file():
        return set()
    return {line.split()[0].lower() for line in listing.read_text().splitlines()
            if line.strip() and not line.startswith('#')}


def trust(path) -> str:
    """Record a checkpoint's SHA-256 in its folder's trust list; returns the hash."""
    path = Path(path)
    digest = sha256_of(path)
    if digest not in trusted_hashes(path.parent):
        with open(path.parent / TRUST_LIST_NAME, 'a') as f:
            f.write(f'{digest}  {path.name}\n')
    return digest


def load_checkpoint_file(filename, map_location=None):
    """torch.load a local checkpoint the safe way (see the module docstring)."""
    filename = os.path.expanduser(str(filename))
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        digest = sha256_of(filename)
        if digest in trusted_hashes(os.path.dirname(os.path.abspath(filename))):
            return torch.load(filename, map_location=map_location, weights_only=False)
        reason = str(err).strip().splitlines()
        detail = next((line for line in reason if 'Unsupported global' in line), reason[0] if reason else '')
        raise UntrustedCheckpointError(
            f'refused to load checkpoint {filename}: it pickles more than tensors and numpy data '
            f'({detail.strip()}), and its SHA-256 {digest} is not in the trusted list. A pickle can '
            f'run code. If you trust this file, record it with: '
            f'python scripts/download_models.py --trust {filename}') from None


def install_safe_checkpoint_loader() -> None:
    """Make mmengine's load_checkpoint use ``load_checkpoint_file`` for local paths."""
    from mmengine.runner.checkpoint import CheckpointLoader
    if CheckpointLoader._schemes.get('') is load_checkpoint_file:
        return
    CheckpointLoader.register_scheme(prefixes='', loader=load_checkpoint_file, force=True)
