"""The caption manifest: a tab-separated table of (video, sentence, start, end) segments."""
import math
import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

from signpose.common.atomic import NAME_MAX, longest_name_bytes

TIME_COLUMNS = (('START_REALIGNED', 'END_REALIGNED'), ('START', 'END'))  # first pair found wins


CONTROL = re.compile('[\x00-\x1f\x7f-\x9f]')  # NUL, newlines, escapes: no name of a file to write or read


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


def sentence_name_problem(name: str) -> Optional[str]:
    """Why SENTENCE_NAME cannot name its files in NPY_DIR, or None. Decided here, before any work:
    the writer would fail only after the segment's compute."""
    if '/' in name or '\\' in name or name.startswith('.'):
        return f'SENTENCE_NAME {name!r} is not a safe file name (a path separator or a leading dot): rename it in the manifest'
    if CONTROL.search(name):
        return f'SENTENCE_NAME {name!r} has a control character: it cannot be a file name; rename it in the manifest'
    longest = longest_name_bytes(name)
    if longest > NAME_MAX:
        extra = longest - len(name.encode())
        return (f'SENTENCE_NAME {name[:40]!r}... is {len(name.encode())} bytes in UTF-8: too long for a file name '
                f'(at most {NAME_MAX - extra}: {NAME_MAX} less the {extra} of its temporary name); shorten it in the manifest')
    return None


def video_name_problem(name: str) -> Optional[str]:
    """Why VIDEO_NAME cannot be read from VIDEO_DIR, or None: a name is a file of that folder (a
    symbolic link there is the user's choice and is followed), never a path out of it."""
    if '/' in name or '\\' in name or name in ('.', '..'):
        return (f'VIDEO_NAME {name!r} is outside VIDEO_DIR: a name with a path separator or ".." is not read; '
                f'give the name of a file in VIDEO_DIR')
    if CONTROL.search(name):
        return f'VIDEO_NAME {name!r} has a control character: no video is read by that name; fix it in the manifest'
    return None


def read_table(path) -> Tuple[List[str], List[Tuple[int, List[str]]], List[BadRow]]:
    """(header, [(line number, fields)], rows with more fields than the header).

    A plain split on tabs (no quoting, like csv.QUOTE_NONE): several times faster than pandas'
    python engine on YouTube-ASL's 610,193 rows. Blank lines are skipped (a line of tabs is a row of
    empty fields); a row with fewer fields than the header has the missing ones empty.
    """
    try:
        with open(path, encoding='utf-8-sig', newline='') as f:
            text = f.read()
    except FileNotFoundError:
        raise ManifestError(f'manifest not found: {path} (set CSV_FILE in configs/extract_mmpose.py '
                            'or pass --cfg-options CSV_FILE=...)') from None
    except (OSError, UnicodeDecodeError) as err:
        raise ManifestError(f'manifest {path} is not a readable tab-separated file: {err}') from None
    lines = text.replace('\r\n', '\n').replace('\r', '\n').split('\n')
    numbered = ((number, line) for number, line in enumerate(lines, 1) if line.strip(' '))
    header_line = next(numbered, None)
    if header_line is None:
        raise ManifestError(f'manifest {path} is not a readable tab-separated file: it is empty')
    header = [name.strip() for name in header_line[1].split('\t')]
    rows, bad = [], []
    for number, line in numbered:
        fields = line.split('\t')
        if len(fields) > len(header):
            bad.append(BadRow(number, f'{len(fields)} tab-separated fields, not the header\'s'))
            continue
        rows.append((number, fields + [''] * (len(header) - len(fields))))
    return header, rows, bad


def read_manifest(path) -> Tuple[List[Segment], List[BadRow]]:
    """Read the manifest; rows that cannot be used come back as BadRow with the reason."""
    header, rows, bad = read_table(path)
    missing = {'VIDEO_NAME', 'SENTENCE_NAME'} - set(header)
    times = next((pair for pair in TIME_COLUMNS if set(pair) <= set(header)), None)
    if missing or times is None:
        raise ManifestError(
            f'manifest {path} needs the columns VIDEO_NAME, SENTENCE_NAME and START/END '
            f'(or START_REALIGNED/END_REALIGNED); it has: {", ".join(header)}')
    video_at, sentence_at = header.index('VIDEO_NAME'), header.index('SENTENCE_NAME')
    start_at, end_at = header.index(times[0]), header.index(times[1])

    segments: List[Segment] = []
    seen = set()
    for line, fields in rows:
        video, sentence = fields[video_at].strip(), fields[sentence_at].strip()
        start, end = _seconds(fields[start_at]), _seconds(fields[end_at])
        if not video or not sentence:
            reason = 'missing VIDEO_NAME or SENTENCE_NAME'
        elif (problem := sentence_name_problem(sentence) or video_name_problem(video)) is not None:
            reason = problem
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
    bad.sort(key=lambda row: row.line)
    return segments, bad
