"""The caption manifest: a tab-separated table of (video, sentence, start, end) segments."""
import csv
import math
from dataclasses import dataclass
from typing import List, Tuple

import pandas as pd

TIME_COLUMNS = (('START_REALIGNED', 'END_REALIGNED'), ('START', 'END'))  # first pair found wins


class ManifestError(RuntimeError):
    """The manifest as a whole cannot be used (missing file or columns)."""


@dataclass(frozen=True)
class Segment:
    video_name: str
    sentence_name: str
    start: float  # seconds
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class BadRow:
    line: int  # line number in the file (the header is line 1)
    reason: str


def _seconds(text: str):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def read_manifest(path) -> Tuple[List[Segment], List[BadRow]]:
    """Read the manifest; rows that cannot be used come back as BadRow with the reason."""
    bad: List[BadRow] = []
    try:
        table = pd.read_csv(path, sep='\t', dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE,
                            engine='python', on_bad_lines=lambda fields: bad.append(
                                BadRow(0, f'{len(fields)} tab-separated fields, not the header\'s')))
    except FileNotFoundError:
        raise ManifestError(f'manifest not found: {path} (set CSV_FILE in configs/extract_mmpose.py '
                            'or pass --cfg-options CSV_FILE=...)') from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ManifestError(f'manifest {path} is not a readable tab-separated file: {err}') from None
    table.columns = [c.strip() for c in table.columns]
    missing = {'VIDEO_NAME', 'SENTENCE_NAME'} - set(table.columns)
    times = next((pair for pair in TIME_COLUMNS if set(pair) <= set(table.columns)), None)
    if missing or times is None:
        raise ManifestError(
            f'manifest {path} needs the columns VIDEO_NAME, SENTENCE_NAME and START/END '
            f'(or START_REALIGNED/END_REALIGNED); it has: {", ".join(table.columns)}')

    segments: List[Segment] = []
    seen = set()
    for offset, row in enumerate(table.itertuples(index=False)):
        line = offset + 2
        row = row._asdict() if hasattr(row, '_asdict') else dict(zip(table.columns, row))
        video = str(row.get('VIDEO_NAME', '')).strip()
        sentence = str(row.get('SENTENCE_NAME', '')).strip()
        start, end = _seconds(row.get(times[0])), _seconds(row.get(times[1]))
        if not video or not sentence:
            reason = 'missing VIDEO_NAME or SENTENCE_NAME'
        elif '/' in sentence or '\\' in sentence or sentence.startswith('.'):
            reason = f'SENTENCE_NAME {sentence!r} is not a safe file name'
        elif start is None or end is None:
            reason = f'{times[0]}/{times[1]} not numeric'
        elif start < 0 or end < 0:
            reason = 'negative time'
        elif end <= start:
            reason = 'end <= start'
        elif sentence in seen:
            reason = f'duplicate SENTENCE_NAME {sentence!r} (the first row is kept)'
        else:
            seen.add(sentence)
            segments.append(Segment(video, sentence, start, end))
            continue
        bad.append(BadRow(line, reason))
    return segments, bad
