"""The hand pass's audit file of a segment (HAND_MODEL_CONFIG; docs/hands.md):
``NPY_DIR/hands/{SENTENCE_NAME}.json``, the hand boxes used in every frame, which rule gave each (or
why a hand kept the whole-body values) and which points the hand model replaced, so that a person
can audit them (qa/visualize draws them) and a check can recompute the pass: mmpose's
``inference_topdown(hand_model, frame, boxes)`` on a frame's boxes gives the hand model's points.

Like the persons file (output/persons.py): a folder of its own, written atomically before the
segment's outputs (which mark the segment done), so a segment that is done has its audit file.
Without a hand model none is written.

The record (JSON; engine/hand_fusion.py's ``HandLog.audit``):
    model, checkpoint   the hand model's config and checkpoint files
    frames              T, the rows of the .npy
    fusion, boxes_rule  the fusion rule and the box rule's constants (engine/hand_boxes.py)
    left, right         per hand, per frame:
        boxes           [x1, y1, x2, y2] in pixels of the video frame (before the model's own 1.25
                        padding), exactly the float32 the model was given; null: no box
        rule            'points' or 'forearm' (the box's rule), 'weak', 'empty' or 'outside' (no box:
                        the whole-body values kept); null: no person in the frame
        replaced        the hand points (0-20) taken from the hand model, as bits of an integer
"""
import json
from pathlib import Path
from typing import List, Optional

from signpose.common.atomic import write_json_atomic

FOLDER = 'hands'
SIDES = ('left', 'right')


def hands_path(npy_dir, sentence_name: str) -> Path:
    return Path(npy_dir) / FOLDER / f'{sentence_name}.json'


write_hands_atomic = write_json_atomic  # the file as a whole or not at all


def read_hands(path) -> Optional[dict]:
    """The record of an audit file; None when there is none. ValueError (one line) when it is not
    one of ours (not JSON, or without per-frame boxes, rules and replaced points of ``frames``)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, ValueError) as err:
        raise ValueError(f'{path} cannot be read: {type(err).__name__}: {err}'[:300]) from None
    frames = record.get('frames') if isinstance(record, dict) else None
    if not isinstance(frames, int) or not all(
            isinstance(record.get(side), dict) and all(isinstance(record[side].get(k), list) and
                                                     len(record[side][k]) == frames for k in ('boxes', 'rule', 'replaced'))
            for side in SIDES):
        raise ValueError(f'{path} is not a hand pass audit file (per-frame boxes, rule and replaced per hand)')
    return record


def replaced_points(mask: int) -> List[int]:
    """The hand points (0-20) of a frame's ``replaced`` integer."""
    return [k for k in range(21) if mask >> k & 1]
