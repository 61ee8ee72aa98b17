"""MULTI_PERSON = 'largest' or 'signer' in the engine: what an open segment keeps of its frames'
persons, and what its close decides (the rules themselves: engine/signer.py).

Per open segment a ``Candidates``: every frame's boxes (both modes: the persons file and the
audit) and, in 'signer' mode, the pose of every box. In 'largest' mode the frame's largest box is
posed as the single person would be, so the rows are final as they come. In 'signer' mode a
frame's rows wait for the segment's close: ``decide`` runs the signer rule there and
``fill_rows`` writes the chosen person's rows (zeros where it is absent). A segment in which no
frame shows more than one person is left exactly as the engine made it: no selection, the same
bytes as MULTI_PERSON = 'skip'.
"""
from typing import List, Optional

import numpy as np

from signpose.config import Rows
from signpose.contract.rows import pose_row
from signpose.engine.signer import Persons, Selection, select_largest, select_signer


class Candidates:
    """One segment's persons per frame position: boxes (n, 4), detector scores (n,), and in
    'signer' mode each box's pose (xy, z, scores) as it comes back from the pose model."""

    def __init__(self, frames: int, keep_poses: bool):
        self.boxes: List[Optional[np.ndarray]] = [None] * frames
        self.scores: List[Optional[np.ndarray]] = [None] * frames
        self.poses: List[Optional[list]] = [None] * frames if keep_poses else []
        self.several = 0  # frames with more than one person

    def found(self, position: int, boxes: np.ndarray, scores: np.ndarray) -> None:
        self.boxes[position] = np.asarray(boxes, np.float32).reshape(-1, 4)
        self.scores[position] = np.asarray(scores, np.float32).reshape(-1)
        self.several += len(boxes) > 1
        if self.poses:
            self.poses[position] = [None] * len(boxes)

    def posed(self, position: int, slot: int, pose) -> bool:
        """Box ``slot`` of the frame at ``position`` has its pose; whether the frame has all of them."""
        poses = self.poses[position]
        poses[slot] = pose
        return all(p is not None for p in poses)

    def persons(self, frames: int) -> List[Persons]:
        """The first ``frames`` positions as signer.Persons (a frame not read or with nobody: n = 0)."""
        out = []
        for position in range(frames):
            boxes = self.boxes[position]
            if boxes is None or not len(boxes):
                out.append(Persons.nobody())
                continue
            poses = self.poses[position] if self.poses else None
            if poses:
                xy, z, scores = (np.stack([np.asarray(p[k], np.float32) for p in poses]) for k in range(3))
                out.append(Persons(boxes, self.scores[position], xy, z, scores))
            else:
                out.append(Persons(boxes, self.scores[position]))
        return out


def decide(mode: str, candidates: Candidates, frames: int, width: int, height: int, fps: float) -> Optional[Selection]:
    """The segment's Selection, or None when no frame had more than one person (nothing to decide)."""
    if candidates is None or not candidates.several:
        return None
    persons = candidates.persons(frames)
    if mode == 'largest':
        return select_largest(persons)
    return select_signer(persons, width, height, fps)


def fill_rows(state, selection: Selection, width: int, height: int, rows: Rows) -> bool:
    """Write the chosen person's rows (and .pose keypoints) into a 'signer' segment's state; the
    frames without the chosen person become zero rows. Whether any frame has a person."""
    candidates = state.candidates
    state.rows[:] = 0
    if state.keypoints is not None:
        state.keypoints.xy[:] = 0
        state.keypoints.z[:] = 0
        state.keypoints.scores[:] = 0
        state.keypoints.present[:] = False
    if state.hands is not None:  # the hand pass: the chosen person's records
        state.hands.clear()
    anyone = False
    for position, slot in enumerate(selection.chosen):
        if slot is None:
            continue
        xy, z, scores = candidates.poses[position][slot]
        state.rows[position] = pose_row(xy, z, scores, width, height, rows.keypoints, rows.visibility)
        if state.keypoints is not None:
            state.keypoints.put(position, (xy, z, scores))
        if state.hands is not None and (position, slot) in state.hand_candidates:
            state.hands.put(position, state.hand_candidates[(position, slot)])
        anyone = True
    return anyone
