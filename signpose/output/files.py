"""The .npy files: written so that no partial file is ever left, read back without pickles."""
import io

import numpy as np

from signpose.common.atomic import atomic_file


def load_array(path) -> np.ndarray:
    """A written .npy, without pickles (a data file must not run code); ValueError with the reason in
    one line when it is truncated, corrupt, or an .npz archive under a .npy name."""
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as err:
        raise ValueError(f'cannot be loaded: {type(err).__name__}: {err}'[:300]) from None
    if not isinstance(array, np.ndarray):  # np.load opens a zip archive whatever its name
        array.close()
        raise ValueError('an .npz archive, not a .npy array')
    return array


def save_npy_atomic(path, array: np.ndarray) -> None:
    # np.save to a real file reports a short write as "N requested and M written", without the
    # errno: written through Python's file instead, a full disk is an OSError(ENOSPC)
    buffer = io.BytesIO()
    np.save(buffer, array)
    with atomic_file(path) as f:
        f.write(buffer.getbuffer())
