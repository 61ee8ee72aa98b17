"""The persons file of a segment decided by MULTI_PERSON = 'largest' or 'signer':
``NPY_DIR/persons/{SENTENCE_NAME}.json``, every person's box per frame and which one the .npy's
rows come from, for qa/visualize to draw (the others in grey, the kept one in colour).

A folder of its own, not a file beside the .npy: the longest name written there, its temporary
file ``.{SENTENCE_NAME}.XXXXXXXX.json.tmp``, is no longer than the .pose's, so every
SENTENCE_NAME the manifest accepts (docs/running.md) still fits a file name. Written atomically,
before the segment's .npy (the .npy is what marks the segment done): a segment that is done has
its persons file. Segments of one person (and every segment of MULTI_PERSON = 'skip') have none.

The record (JSON; engine/signer.py's ``Selection.boxes_record``):
    mode        'largest' or 'signer'
    frames      T, the rows of the .npy
    boxes       per frame, the persons' boxes [[x1, y1, x2, y2], ...] in pixels of the video frame
    chosen      per frame, the index in ``boxes`` the row comes from, or null (a zero row)
    tracks      ('signer') per frame, the track id of each box
    scores      ('signer') the judged tracks, best first: track, frames, score and its parts
    selection   what the ledger records of the choice
"""
import json
from pathlib import Path
from typing import Optional

from signpose.common.atomic import write_json_atomic

FOLDER = 'persons'


def persons_path(npy_dir, sentence_name: str) -> Path:
    return Path(npy_dir) / FOLDER / f'{sentence_name}.json'


write_persons_atomic = write_json_atomic  # the file as a whole or not at all


def read_persons(path) -> Optional[dict]:
    """The record of a persons file; None when there is none. ValueError (one line) when it is not
    one of ours (not JSON, or without per-frame ``boxes`` and ``chosen`` of the same length)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, ValueError) as err:
        raise ValueError(f'{path} cannot be read: {type(err).__name__}: {err}'[:300]) from None
    if not (isinstance(record, dict) and isinstance(record.get('boxes'), list)
            and isinstance(record.get('chosen'), list) and len(record['boxes']) == len(record['chosen'])):
        raise ValueError(f'{path} is not a persons file (per-frame boxes and chosen)')
    return record
