"""The output folder as a resource: a full disk or an unwritable folder stops the run, with one line.

Such an error is a property of the folder, not of a segment: every later write would fail the
same way, so the stage stops at the first one instead of computing every remaining segment only
to fail its write. Files already written stay, and the same command continues after the fix.
"""
import errno
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

from signpose.config import Output, Sampling
from signpose.contract.rows import channels

OUT_OF_SPACE = (errno.ENOSPC, errno.EDQUOT)
NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)
CONTINUES = 'then run the same command: it continues'
FILE_OVERHEAD = 4096 + 512  # a file's last block, the .npy header and its ledger line


class OutputError(Exception):
    """The output folder cannot take more writes. Args (folder, errno, detail, file) keep it
    picklable, so it travels from a worker process or a Ray actor to the driver."""

    def __init__(self, folder: str, code: int, detail: str, file: str = ''):
        super().__init__(str(folder), code, detail, file)
        self.folder, self.code, self.detail, self.file = str(folder), code, detail, file

    @property
    def out_of_space(self) -> bool:
        return self.code in OUT_OF_SPACE

    def __str__(self) -> str:
        return self.message()

    def message(self) -> str:
        """One line: what, where, and what to do."""
        writing = f' while writing {self.file}' if self.file else ''
        if self.out_of_space:
            what = 'disk quota exceeded' if self.code == errno.EDQUOT else 'out of space'
            return (f'{what} in {self.folder} ({human_bytes(free_bytes(self.folder))} free){writing}: '
                    f'free space, {CONTINUES}')
        return (f'cannot write to {self.folder} ({self.detail}){writing}: make it writable or choose '
                f'another NPY_DIR, {CONTINUES}')


def output_error(err: BaseException, path) -> Optional[OutputError]:
    """The OutputError that ``err`` (raised writing ``path``) means, or None for any other error."""
    if isinstance(err, OSError) and err.errno in OUT_OF_SPACE + NOT_WRITABLE:
        path = Path(path)
        return OutputError(str(path.parent), err.errno, err.strerror or os.strerror(err.errno), path.name)
    return None


@contextmanager
def stops_the_run(path):
    """Writing ``path`` in the block: an OSError that means the folder is full or unwritable is
    raised as the OutputError that stops the run; any other error passes unchanged."""
    try:
        yield
    except OSError as err:
        stop = output_error(err, path)
        if stop is None:
            raise
        raise stop from None


def free_bytes(folder) -> Optional[int]:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def human_bytes(count: Optional[int]) -> str:
    if count is None:
        return 'unknown'
    for unit in ('bytes', 'KiB', 'MiB', 'GiB', 'TiB'):
        if count < 1024 or unit == 'TiB':
            return f'{count:.0f} {unit}' if unit == 'bytes' else f'{count:.1f} {unit}'
        count /= 1024


def check_writable(folder) -> Optional[OutputError]:
    """Create the folder and a file in it (removed again): a permission or read-only problem is
    found before any work, not after the first segment's compute."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix='.write-check.', dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as err:
        return OutputError(str(folder), err.errno or 0, err.strerror or str(err))
    return None


def bytes_needed(tasks, sampling: Sampling, output: Output) -> int:
    """About what the tasks' outputs take on disk: frames x keypoints x channels x 4 bytes per
    segment, plus a block, the header and a ledger line per file."""
    row = len(output.rows.keypoints) * output.rows.channels * 4
    total = 0
    for task in tasks:
        rate = sampling.rate(task.info.fps)
        total += sum(math.ceil(seg.duration * rate) * row + FILE_OVERHEAD for seg in task.segments)
    return total


def space_warning(tasks, sampling: Sampling, output: Output) -> Optional[str]:
    """A line when the tasks' outputs will not fit in NPY_DIR's free space, else None."""
    needed, free = bytes_needed(tasks, sampling, output), free_bytes(output.folder)
    if free is None or needed <= free:
        return None
    return (f'{output.folder} has {human_bytes(free)} free, and the segments to do need about '
            f'{human_bytes(needed)}: the run will stop when it is full (free space, {CONTINUES})')
