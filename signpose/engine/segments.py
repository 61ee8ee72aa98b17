"""The engine's bookkeeping, apart from any model: which open segment wants which frame, what each
frame showed, and when a segment is finished; then what it came to: an Outcome (a skip), or its
arrays to be written (contract/extracted.py).

A segment is finished when it saw several persons (skipped whole), or when every one of its frames
has been read and each frame read has its answer (no person, or a pose row; with MULTI_PERSON =
'signer', the poses of all its persons: engine/choosing.py).
"""
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Union

import numpy as np

from signpose.config import Engine
from signpose.contract.extracted import Extracted, Keypoints
from signpose.contract.outcomes import MULTIPLE_PERSONS, NO_PERSON, SKIPPED, Outcome, failures
from signpose.contract.rows import empty_rows
from signpose.data.manifest import Segment
from signpose.data.sampling import sample_frames
from signpose.data.tasks import VideoTask
from signpose.data.video import Timeline
from signpose.engine.choosing import Candidates, decide, fill_rows
from signpose.engine.hand_fusion import HandLog, HandRecord
from signpose.engine.quality import segment_quality


@dataclass
class SegmentState:
    segment: Segment
    indices: List[int]  # the video's frames sampled for the segment, ascending
    rows: np.ndarray  # (len(indices), 85, C), zeros until filled
    position: Dict[int, int] = field(default_factory=dict)  # frame index -> row
    delivered: int = 0  # frames of the segment read so far (a prefix of indices)
    resolved: int = 0  # frames whose row is final
    persons: bool = False
    multiple: bool = False
    done: bool = False
    keypoints: Optional[Keypoints] = None  # all 133 in pixels, kept for a .pose file
    candidates: Optional[Candidates] = None  # every frame's persons (MULTI_PERSON 'largest', 'signer')
    person_scores: List[Optional[np.ndarray]] = field(default_factory=list)  # per frame read: its persons' scores
    hands: Optional[HandLog] = None  # the hand pass's record per frame (made at its first record)
    hand_candidates: Dict[tuple, HandRecord] = field(default_factory=dict)  # 'signer': (position, slot) -> record


def record_hands(state: SegmentState, position: int, slot: Optional[int], record: Optional[HandRecord]) -> None:
    """The hand pass's record of the person at ``position`` (``slot``: one of a 'signer' frame's
    persons, kept until the close decides); nothing without a hand pass."""
    if record is None:
        return
    if state.hands is None:
        state.hands = HandLog(len(state.indices))
    if slot is None:
        state.hands.put(position, record)
    else:
        state.hand_candidates[(position, slot)] = record


def record_pose(state: SegmentState, index: int, row: np.ndarray, pose) -> None:
    """Frame ``index`` of the segment showed one person: its .npy row (and its keypoints for a .pose)."""
    position = state.position[index]
    state.rows[position] = row
    if state.keypoints is not None:
        state.keypoints.put(position, pose)
    state.persons = True


def plan_segments(task: VideoTask, engine: Engine, timeline: Optional[Timeline] = None) -> List[SegmentState]:
    """Each segment of the task with its sampled frames and zero rows."""
    times = timeline.times if timeline is not None else None
    states = []
    for seg in task.segments:
        sampling = engine.sampling
        indices = sample_frames(task.info.fps, seg.start, seg.end, sampling.fps, sampling.frame_skip, times)
        rows = empty_rows(len(indices), len(engine.rows.keypoints), engine.rows.visibility)
        keypoints = Keypoints.empty(len(indices)) if engine.keep_keypoints else None
        mode = engine.persons.multi_person
        candidates = Candidates(len(indices), keep_poses=mode == 'signer') if mode != 'skip' else None
        states.append(SegmentState(seg, indices, rows, {i: p for p, i in enumerate(indices)}, keypoints=keypoints,
                                   candidates=candidates))
    return states


class SegmentBook:
    """The open segments of one video and the frames they wait for.

    The engine tells it, frame by frame, what was read and what detection and pose found;
    ``finished`` hands out the segments that can be closed.
    """

    def __init__(self, states: List[SegmentState]):
        self.states = states
        self.wanted: Dict[int, List[SegmentState]] = defaultdict(list)
        for state in states:
            for index in state.indices:
                self.wanted[index].append(state)

    def frames(self) -> List[int]:
        """Every frame index some segment samples, ascending (each is decoded once)."""
        return sorted(self.wanted)

    def open_targets(self, index: int) -> List[SegmentState]:
        """The segments that still want frame ``index`` (not skipped for several persons)."""
        return [s for s in self.wanted[index] if not s.multiple]

    def read(self, index: int) -> bool:
        """Frame ``index`` was decoded; whether any open segment still needs its detection."""
        for s in self.wanted[index]:
            s.delivered += 1
        return bool(self.open_targets(index))

    def detected(self, index: int, scores: np.ndarray) -> None:
        """The detector's person scores in frame ``index`` (above BBOX_THR), for the segments' quality."""
        for s in self.open_targets(index):
            s.person_scores.append(scores)

    def several_persons(self, index: int) -> None:
        for s in self.open_targets(index):
            s.multiple = True

    def no_person(self, index: int) -> None:
        for s in self.open_targets(index):
            s.resolved += 1  # the row stays zeros

    def pose(self, index: int, row: np.ndarray, pose, hands: Optional[HandRecord] = None) -> None:
        """One person in frame ``index``: its .npy row, ``pose`` (xy, z, scores) for a .pose file and,
        with the hand pass, its record."""
        for s in self.open_targets(index):
            record_pose(s, index, row, pose)
            record_hands(s, s.position[index], None, hands)
            if s.candidates is not None and s.candidates.poses:
                s.candidates.posed(s.position[index], 0, pose)
                record_hands(s, s.position[index], 0, hands)
            s.resolved += 1

    def found(self, index: int, boxes: np.ndarray, scores: np.ndarray) -> None:
        """MULTI_PERSON 'largest' / 'signer': the persons' boxes in frame ``index``, kept per segment."""
        for s in self.open_targets(index):
            if s.candidates is not None:
                s.candidates.found(s.position[index], boxes, scores)

    def candidate_pose(self, index: int, slot: int, pose, hands: Optional[HandRecord] = None) -> None:
        """'signer': the pose of box ``slot`` of a frame with several persons; the frame is
        answered when all of its boxes have theirs (the rows wait for the segment's close)."""
        for s in self.open_targets(index):
            record_hands(s, s.position[index], slot, hands)
            if s.candidates.posed(s.position[index], slot, pose):
                s.resolved += 1

    def finished(self, next_index: float) -> Iterator[SegmentState]:
        """Segments that can be closed now that every frame before ``next_index`` has been read
        (marked done as they are handed out)."""
        for s in self.states:
            if s.done:
                continue
            all_read = not s.indices or s.indices[-1] < next_index
            if s.multiple or (all_read and s.resolved == s.delivered):
                s.done = True
                yield s

    def unfinished(self) -> List[SegmentState]:
        return [s for s in self.states if not s.done]


def close_segment(state: SegmentState, task: VideoTask, engine: Engine,
                  hand_source=('', '')) -> Union[Outcome, Extracted]:
    """What a finished segment came to: a skip (its Outcome), or its landmarks to be written
    (``hand_source``: the hand model's (config, checkpoint), for the hand pass's audit file)."""
    state.done = True
    seg = state.segment
    base = dict(sentence=seg.sentence_name, video=seg.video_name, reader=task.reader)
    if state.multiple:  # its quality as far as it got: the frames read, the scores that decided it
        return Outcome(**base, status=SKIPPED, reason=MULTIPLE_PERSONS, quality=quality_of(state, engine))
    if not state.indices:
        return Outcome(**base, status=SKIPPED, reason='no frame sampled in the segment')
    if state.delivered == 0:
        return Outcome(**base, status=SKIPPED, reason=f'no frames: the video ends before {seg.start:.2f} s')
    fps = engine.sampling.rate(task.info.fps)
    selection = decide(engine.persons.multi_person, state.candidates, state.delivered, task.info.width,
                       task.info.height, fps) if state.candidates is not None else None
    chosen = {}
    if selection is not None:  # some frame had several persons (MULTI_PERSON 'largest' / 'signer')
        chosen = dict(selection=selection.audit(), persons=selection.boxes_record())
        if selection.skipped:
            return Outcome(**base, status=SKIPPED, reason=selection.reason, frames=state.delivered,
                           selection=chosen['selection'], quality=quality_of(state, engine))
        if selection.mode == 'signer':
            state.persons = fill_rows(state, selection, task.info.width, task.info.height, engine.rows)
    if not state.persons:
        return Outcome(**base, status=SKIPPED, reason=NO_PERSON, frames=state.delivered,
                       selection=chosen.get('selection'), quality=quality_of(state, engine))
    frames = state.delivered
    keypoints = state.keypoints.first(frames) if state.keypoints is not None else None
    if state.hands is not None:  # the hand pass: its audit file and the ledger's summary
        chosen.update(hands=state.hands.audit(frames, hand_source), hands_summary=state.hands.summary(frames))
    return Extracted(**base, rows=state.rows[:frames], keypoints=keypoints, sampled=len(state.indices),
                     width=task.info.width, height=task.info.height, fps=fps,
                     quality=dict(quality_of(state, engine), size=[task.info.width, task.info.height], fps=round(fps, 3)),
                     **chosen)


def quality_of(state: SegmentState, engine: Engine) -> dict:
    """The segment's quality measures (engine/quality.py) over the frames read so far."""
    return segment_quality(state.rows[:state.delivered], engine.rows.keypoints, engine.persons.kpt_thr,
                           state.person_scores, engine.persons.bbox_thr)


def failed_outcomes(task: VideoTask, states: List[SegmentState], error: BaseException) -> List[Outcome]:
    """The segments of ``states`` not yet finished, failed with ``error``."""
    reason = f'{type(error).__name__}: {error}'.strip()[:500]
    return failures([s.segment for s in states if not s.done], reason, reader=task.reader)
