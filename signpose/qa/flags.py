"""Red flags that the quality measures miss: a frozen pose, rows identical across segments,
keypoints clipped to the frame's edge, a segment cut short by its video, a file the validator
rejects. A flagged segment leaves the best and worst lists for the flagged one.

The measures come from the ledger's quality record (engine/quality.py: ``frozen``, ``clipped``,
``first_row``); the files themselves are read too while there are at most ``SCAN_LIMIT`` written
segments (and for segments whose record predates those measures, up to the limit): the file is
what the next stage reads.
"""
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from signpose.config import Rows
from signpose.engine.quality import clipped_share, longest_repeat, person_frames, row_digest
from signpose.output.files import load_array
from signpose.qa.coverage import TRUNCATED
from signpose.qa.validate import check_array

SCAN_LIMIT = 20_000  # written segments whose files the report reads itself
FROZEN_FRAMES = 12  # consecutive identical rows (0.5 s at 24 fps), or every frame of a shorter segment
FROZEN_MIN = 3  # ... of at least this many frames with a person
CLIPPED_SHARE = 0.2  # of the shown keypoints on the frame's edge
ORDER = ('rejected', 'frozen', 'identical', 'clipped', 'truncated')  # worst first
LABELS = {'rejected': 'file rejected', 'frozen': 'frozen pose', 'identical': 'identical to another segment',
          'clipped': 'clipped to the edge', 'truncated': 'truncated'}


@dataclass
class Flags:
    of: Dict[str, List[Tuple[str, str]]] = field(default_factory=dict)  # sentence -> [(kind, detail)]
    scanned: int = 0  # files read
    unscanned: int = 0  # written segments neither read nor measured by the engine

    def count(self, kind: str) -> int:
        return sum(1 for items in self.of.values() if any(k == kind for k, _ in items))

    def add(self, sentence: str, kind: str, detail: str) -> None:
        items = self.of.setdefault(sentence, [])
        if all(k != kind for k, _ in items):
            items.append((kind, detail))
            items.sort(key=lambda kd: ORDER.index(kd[0]))


def frozen_limit(person: int) -> Optional[int]:
    """The run of identical rows that flags a segment with ``person`` frames with a person."""
    return None if person < FROZEN_MIN else min(FROZEN_FRAMES, person)


def measures_of_file(path: Path, kpt_thr: float, keypoints: int, add_visible: bool, frames: Optional[int]):
    """(measures {frozen, clipped, first_row, person}, the validator's problems) of one file."""
    try:
        rows = load_array(path)
    except (ValueError, OSError) as err:
        return None, [f'cannot be loaded: {err}'[:200]]
    contract = Rows(tuple(range(keypoints)), add_visible)
    problems = [detail for _, detail in check_array(rows, contract)]
    if rows.ndim == 3 and frames is not None and abs(len(rows) - frames) > 0:
        problems.append(f'T = {len(rows)} frames, the ledger says {frames}')
    if problems or rows.ndim != 3 or rows.shape[2] < 3:
        return None, problems
    rows = np.nan_to_num(rows.astype(np.float32))
    person = person_frames(rows)
    if not person.any():
        return dict(person=0, frozen=0, clipped=None, first_row=None), problems
    return dict(person=int(person.sum()), frozen=longest_repeat(rows, person),
                clipped=clipped_share(rows, person, kpt_thr), first_row=row_digest(rows[int(np.argmax(person))])), problems


def red_flags(written: Sequence[dict], npy_dir: Path, present: set, kpt_thr: float, keypoints: int,
              add_visible: bool, scan_limit: int = SCAN_LIMIT) -> Flags:
    """The flags of the written segments (their latest ledger records) whose file is there."""
    flags = Flags()
    records = [r for r in written if f"{r['sentence']}.npy" in present or f"{r['sentence']}.pose" in present]
    scan_all = len(records) <= scan_limit
    budget = scan_limit
    first_rows: Dict[str, List[str]] = defaultdict(list)
    for record in records:
        name = record['sentence']
        q = record.get('quality') if isinstance(record.get('quality'), dict) else {}
        measures = q if 'frozen' in q else None
        if (scan_all or measures is None) and budget > 0 and f'{name}.npy' in present:
            budget -= 1
            flags.scanned += 1
            found, problems = measures_of_file(Path(npy_dir) / f'{name}.npy', kpt_thr, keypoints, add_visible,
                                               record.get('frames'))
            if problems:
                flags.add(name, 'rejected', '; '.join(problems))
            measures = found or measures
        if str(record.get('reason', '')).startswith(TRUNCATED):
            flags.add(name, 'truncated', str(record['reason']))
        if measures is None:
            flags.unscanned += 1
            continue
        person = measures.get('person') or 0
        limit = frozen_limit(person)
        if limit is not None and (measures.get('frozen') or 0) >= limit:
            flags.add(name, 'frozen', f"{measures['frozen']} consecutive frames with the same rows "
                                      f"(of {person} with a person)")
        clipped = measures.get('clipped')
        if clipped is not None and clipped >= CLIPPED_SHARE:
            flags.add(name, 'clipped', f'{clipped:.0%} of the shown keypoints on the frame\'s edge (x or y exactly 0 or 1)')
        if measures.get('first_row'):
            first_rows[measures['first_row']].append(name)
    for names in first_rows.values():
        if len(names) > 1:
            for name in names:
                others = [n for n in names if n != name]
                flags.add(name, 'identical', f"same rows as {len(others)} other segment(s), e.g. {', '.join(others[:3])}")
    return flags
