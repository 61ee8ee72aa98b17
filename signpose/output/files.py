"""Output files: where each segment's file goes, and writes that never leave a partial file."""
import io
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Dict

import numpy as np


def output_path(npy_dir, sentence_name: str, fmt: str = 'npy') -> Path:
    """NPY_DIR/{SENTENCE_NAME}.npy (or .pose)."""
    return Path(npy_dir) / f'{sentence_name}.{fmt}'


def output_paths(settings, sentence_name: str) -> Dict[str, Path]:
    """The files of one segment, one per OUTPUT_FORMATS entry: the segment is done when all exist."""
    return {fmt: output_path(settings.NPY_DIR, sentence_name, fmt) for fmt in settings.OUTPUT_FORMATS}


NAME_MAX = 255  # bytes in a file name (ext4, xfs, btrfs, NFS, Lustre)
RANDOM_CHARACTERS = 8  # what tempfile.mkstemp puts between prefix and suffix
FORMATS = ('npy', 'pose')  # config.OUTPUT_FORMATS' choices


def temporary_affixes(path: Path, suffix: str = None):
    """(prefix, suffix) of ``atomic_file``'s temporary name for ``path``."""
    return f'.{path.stem}.', suffix or f'{path.suffix}.tmp'


def longest_name_bytes(sentence_name: str) -> int:
    """Bytes of the longest file name written for a segment, in any format: its temporary name."""
    longest = 0
    for fmt in FORMATS:
        prefix, suffix = temporary_affixes(Path(f'{sentence_name}.{fmt}'))
        longest = max(longest, len(prefix.encode()) + RANDOM_CHARACTERS + len(suffix.encode()))
    return longest


@contextmanager
def atomic_file(path, suffix: str = None):
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    A reader (or a rerun) sees either no file or the whole file, never a partial one; on any
    error or interruption the temporary file is removed.
    """
    path = Path(path)
    prefix, suffix = temporary_affixes(path, suffix)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, 'wb') as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


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


def written_frames(paths: Dict[str, Path]) -> int:
    """Frames in a segment's written files (the .npy's rows, else the .pose's frames)."""
    if 'npy' in paths:
        return int(np.load(paths['npy'], mmap_mode='r').shape[0])
    from signpose.output.pose_file import read_pose  # pose-format: only for .pose-only runs
    return int(read_pose(paths['pose']).body.data.shape[0])


def already_written(settings, segments) -> tuple:
    """(Outcomes of the segments whose files all exist, the other segments): what a worker that
    died, or an actor's lost call, wrote before its report could reach the stage."""
    from signpose.output.ledger import WRITTEN, Outcome
    done, todo = [], []
    for seg in segments:
        paths = output_paths(settings, seg.sentence_name)
        if all(path.is_file() for path in paths.values()):
            done.append(Outcome(seg.sentence_name, seg.video_name, WRITTEN, '', written_frames(paths),
                                str(next(iter(paths.values())))))
        else:
            todo.append(seg)
    return done, todo
