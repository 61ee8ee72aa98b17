"""Processed copies beside the raw files: a folder that ``3b_smooth.py NPY_DIR OUT_DIR`` wrote,
read from its record (``smoothing.json``) and files, for the report's "Processed copies" section
and its players (the processed skeleton drawn over the raw one, filled points marked).

Plain values in, plain values out: the report passes the folder, this reads what it needs.
"""
import base64
import json
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from signpose.output.files import load_array
from signpose.trajectories.folder import BAD, COPIED, FILLED_DIR, PROCESSED, RECORD_NAME

NAMED = 5  # bad files and segments without a copy named on the page
# quality before -> after, as the record has it per file: (label, key, digits)
MEASURES = (('frames with a person', 'person share', 3), ('left hand present', 'lhand_in', 3),
            ('right hand present', 'rhand_in', 3), ('left wrist jitter', 'jitter_l', 4),
            ('right wrist jitter', 'jitter_r', 4))


def _value(quality, key: str) -> Optional[float]:
    if not isinstance(quality, dict):
        return None
    if key == 'person share':
        frames, person = quality.get('frames'), quality.get('person')
        return person / frames if isinstance(frames, (int, float)) and frames and isinstance(person, (int, float)) else None
    value = quality.get(key)
    return float(value) if isinstance(value, (int, float)) else None


def _mean(values: List[Optional[float]]) -> Optional[float]:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


class Processed:
    """One processed folder: its record's summary for the page, its rows for the players."""

    def __init__(self, folder, npy_dir, written: List[str]):
        self.folder, self.problem, self.record = Path(folder), None, {}
        try:
            record = json.loads((self.folder / RECORD_NAME).read_text(encoding='utf-8'))
            if not isinstance(record, dict) or not isinstance(record.get('files'), list):
                raise ValueError('no list of files')
            self.record = record
        except FileNotFoundError:
            self.problem = (f'{self.folder / RECORD_NAME} is missing: not a folder 3b_smooth.py wrote (or it is still '
                            f'running) -> python scripts/3b_smooth.py {npy_dir} {self.folder}')
        except (OSError, ValueError) as err:
            self.problem = f'{self.folder / RECORD_NAME} cannot be read ({err}): it is left out'
        entries = [e for e in self.record.get('files', []) if isinstance(e, dict)]
        self.entries = {str(e.get('file')): e for e in entries}
        self.npy_dir, self.written = Path(npy_dir), written

    def summary(self) -> dict:
        """What the section shows: the method, the counts, the quality before and after."""
        view = dict(folder=str(self.folder), problem=self.problem, rows=[], notes=[], method='', settings='',
                    counts={}, created='', rerun=f'python scripts/3b_smooth.py {self.npy_dir} {self.folder}')
        if self.problem:
            return view
        record, entries = self.record, list(self.entries.values())
        settings = record.get('settings') if isinstance(record.get('settings'), dict) else {}
        view.update(method=str(settings.get('method', '?')), created=str(record.get('created', '')),
                    settings=', '.join(f'{k} {v}' for k, v in settings.items() if k not in ('method', 'parts')))
        status = [e.get('status') for e in entries]
        view['counts'] = dict(files=len(entries), processed=status.count(PROCESSED), copied=status.count(COPIED),
                              bad=status.count(BAD),
                              points_filled=sum(int(e.get('points_filled') or 0) for e in entries),
                              gaps_filled=sum(int(e.get('gaps_filled') or 0) for e in entries),
                              gaps_left=sum(int(e.get('gaps_left') or 0) for e in entries))
        measured = [e for e in entries if e.get('status') in (PROCESSED, COPIED)]
        for label, key, digits in MEASURES:
            before = _mean([_value(e.get('quality_before'), key) for e in measured])
            after = _mean([_value(e.get('quality_after'), key) for e in measured])
            if before is None and after is None:
                continue
            view['rows'].append(dict(label=label, before='-' if before is None else f'{before:.{digits}f}',
                                     after='-' if after is None else f'{after:.{digits}f}'))
        inputs = record.get('input')
        if inputs and Path(str(inputs)).resolve() != self.npy_dir.resolve():
            view['notes'].append(f'made from {inputs}, not from this report\'s folder {self.npy_dir}')
        bad = [e for e in entries if e.get('status') == BAD]
        if bad:
            view['notes'].append(f'{len(bad):,} file(s) not processed (not stage outputs): ' + '; '.join(
                f"{e.get('file')}: {e.get('reason')}" for e in bad[:NAMED]) + (' ...' if len(bad) > NAMED else ''))
        missing = [name for name in self.written if f'{name}.npy' not in self.entries]
        if missing:
            view['notes'].append(f'{len(missing):,} written segment(s) have no processed copy (written after the '
                                 f'processing, or left out): ' + ', '.join(missing[:NAMED]) +
                                 (' ...' if len(missing) > NAMED else '') + ' -> run the command again')
        return view

    def player(self, name: str, start: int, frames: int, encode) -> Dict[str, str]:
        """The processed rows of the raw player's stretch (``encode``: the raw player's encoding) and
        the filled points' mask (one byte per point: 1 filled) as base64; empty without a copy."""
        if self.problem or f'{name}.npy' not in self.entries:
            return dict(points='', filled='')
        try:
            rows = np.nan_to_num(load_array(self.folder / f'{name}.npy').astype(np.float32))
            part = rows[start:start + frames]
            points = encode(part) if rows.ndim == 3 and len(part) else ''
        except (ValueError, OSError):
            return dict(points='', filled='')
        filled = ''
        try:
            mask = np.asarray(load_array(self.folder / FILLED_DIR / f'{name}.npy'), dtype=bool)[start:start + frames]
            if mask.shape == part.shape[:2]:
                filled = base64.b64encode(mask.astype(np.uint8).tobytes()).decode()
        except (ValueError, OSError):
            pass
        return dict(points=points, filled=filled)
