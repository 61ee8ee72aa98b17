"""The files of a segment: NPY_DIR/{SENTENCE_NAME}.npy (and .pose), one per OUTPUT_FORMATS entry.

The one place that decides whether a segment is done: all of its files exist. Planning asks with
one listing of NPY_DIR (a stat per segment costs seconds at YouTube-ASL scale), a retried Ray call
asks the file system.
"""
from pathlib import Path
from typing import Collection, Dict, Iterable, List, Optional

FORMATS = ('npy', 'pose')  # OUTPUT_FORMATS' choices


def output_path(npy_dir, sentence_name: str, fmt: str = 'npy') -> Path:
    """NPY_DIR/{SENTENCE_NAME}.npy (or .pose)."""
    return Path(npy_dir) / f'{sentence_name}.{fmt}'


def file_names(sentence_name: str, formats: Iterable[str]) -> List[str]:
    """The names of a segment's files in NPY_DIR, one per format, in OUTPUT_FORMATS order."""
    return [f'{sentence_name}.{fmt}' for fmt in formats]


def segment_files(npy_dir, sentence_name: str, formats: Iterable[str]) -> Dict[str, Path]:
    """The files of one segment, by format, in OUTPUT_FORMATS order."""
    return {fmt: output_path(npy_dir, sentence_name, fmt) for fmt in formats}


def is_done(npy_dir, sentence_name: str, formats: Iterable[str], listing: Optional[Collection[str]] = None) -> bool:
    """Whether every file of the segment exists: by name in ``listing`` (the regular files of
    NPY_DIR, one listing for a whole plan) when given, else asked of the file system."""
    names = file_names(sentence_name, formats)
    if listing is not None:
        return all(name in listing for name in names)
    return all((Path(npy_dir) / name).is_file() for name in names)
