"""Writes that never leave a partial file: a temporary file beside the target, renamed over it
once complete. Used for the outputs, the ledger's run records, downloads and runtime exports."""
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from signpose.contract.files import FORMATS

NAME_MAX = 255  # bytes in a file name (ext4, xfs, btrfs, NFS, Lustre)
RANDOM_CHARACTERS = 8  # what tempfile.mkstemp puts between prefix and suffix
LONGEST_TEMPORARY_SUFFIX = max(len(f'.{fmt}.tmp'.encode()) for fmt in FORMATS)


def temporary_affixes(path: Path, suffix: str = None):
    """(prefix, suffix) of ``atomic_file``'s temporary name for ``path``."""
    return f'.{path.stem}.', suffix or f'{path.suffix}.tmp'


def longest_name_bytes(sentence_name: str) -> int:
    """Bytes of the longest file name written for a segment, in any format: its temporary name."""
    # temporary_affixes(Path(f'{name}.{fmt}')) is ('.{name}.', '.{fmt}.tmp') for any name the
    # manifest accepts (no separator, no leading dot): by arithmetic, for 610,193 rows at start-up
    return len(sentence_name.encode()) + 2 + RANDOM_CHARACTERS + LONGEST_TEMPORARY_SUFFIX


@contextmanager
def atomic_file(path, suffix: str = None, exclusive: bool = False):
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path`` (or,
    ``exclusive``, link it to ``path``: FileExistsError when ``path`` exists, never overwritten).

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
        if exclusive:
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json_atomic(path, value, exclusive: bool = False, end: str = '') -> None:
    """``value`` as compact JSON (UTF-8, then ``end``) written through ``atomic_file`` (``exclusive``:
    never over an existing file), its folder made if needed: a segment's persons and hand audit
    files, the run records, the checkpoints' hash cache."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(value, ensure_ascii=False, separators=(',', ':')) + end).encode('utf-8')
    with atomic_file(path, exclusive=exclusive) as f:
        f.write(data)
