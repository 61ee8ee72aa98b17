"""The engine's bookkeeping, apart from any model: which open segment wants which frame, what each
frame showed, and when a segment is finished; then its outcome and its file.

A segment is finished when it saw several persons (skipped whole), or when every one of its frames
has been read and each frame read has its answer (no person, or a pose row).
"""
import errno
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional

import numpy as np

from signpose.config import NUM_COCO_WHOLEBODY
from signpose.data.manifest import Segment
from signpose.data.sampling import sample_frames
from signpose.data.tasks import VideoTask
from signpose.data.video import Timeline
from signpose.output.files import output_paths, save_npy_atomic
from signpose.output.ledger import FAILED, MULTIPLE_PERSONS, NO_PERSON, SKIPPED, WRITTEN, Outcome, failures
from signpose.output.storage import frames_per_second, output_error


@contextmanager
def timed(stats: Optional[dict], key: str):
    """Add the block's wall time to stats[key] (the benchmark's breakdown); no-op without stats."""
    if stats is None:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        stats[key] = stats.get(key, 0.0) + time.perf_counter() - start


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
    keypoints: Optional['Keypoints'] = None  # all 133 in pixels, kept for a .pose file


@dataclass
class Keypoints:
    """A segment's frames as the pose model gave them (for OUTPUT_FORMATS 'pose'): image pixels,
    z, raw scores, and which frames had a person."""
    xy: np.ndarray  # (T, 133, 2) float32
    z: np.ndarray  # (T, 133) float32
    scores: np.ndarray  # (T, 133) float32
    present: np.ndarray  # (T,) bool

    @classmethod
    def empty(cls, frames: int) -> 'Keypoints':
        return cls(np.zeros((frames, NUM_COCO_WHOLEBODY, 2), np.float32), np.zeros((frames, NUM_COCO_WHOLEBODY), np.float32),
                   np.zeros((frames, NUM_COCO_WHOLEBODY), np.float32), np.zeros(frames, bool))

    def put(self, position: int, pose) -> None:
        xy, z, scores = pose
        self.xy[position], self.z[position], self.scores[position] = xy, z, scores
        self.present[position] = True


def record_pose(state: SegmentState, index: int, row: np.ndarray, pose) -> None:
    """Frame ``index`` of the segment showed one person: its .npy row (and its keypoints for a .pose)."""
    position = state.position[index]
    state.rows[position] = row
    if state.keypoints is not None:
        state.keypoints.put(position, pose)
    state.persons = True


def plan_segments(task: VideoTask, settings, timeline: Optional[Timeline] = None) -> List[SegmentState]:
    width = len(settings.COCO_WHOLEBODY_IDX)
    times = timeline.times if timeline is not None else None
    states = []
    for seg in task.segments:
        indices = sample_frames(task.info.fps, seg.start, seg.end, settings.REDUCE_FPS_TO, settings.FRAME_SKIP, times)
        rows = np.zeros((len(indices), width, 4 if settings.ADD_VISIBLE else 3), dtype=np.float32)
        keypoints = Keypoints.empty(len(indices)) if 'pose' in settings.OUTPUT_FORMATS else None
        states.append(SegmentState(seg, indices, rows, {i: p for p, i in enumerate(indices)}, keypoints=keypoints))
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

    def several_persons(self, index: int) -> None:
        for s in self.open_targets(index):
            s.multiple = True

    def no_person(self, index: int) -> None:
        for s in self.open_targets(index):
            s.resolved += 1  # the row stays zeros

    def pose(self, index: int, row: np.ndarray, pose) -> None:
        """One person in frame ``index``: its .npy row, and ``pose`` (xy, z, scores) for a .pose file."""
        for s in self.open_targets(index):
            record_pose(s, index, row, pose)
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


def reader_of(task: VideoTask) -> str:
    """Which decoder read the video, and its codec (for the ledger and the console)."""
    return f'{task.info.backend} {task.info.codec}'.strip()


def finish(state: SegmentState, task: VideoTask, settings, stats: Optional[dict] = None) -> Outcome:
    """Decide and write one segment's outcome."""
    state.done = True
    seg = state.segment
    base = dict(sentence=seg.sentence_name, video=seg.video_name, reader=reader_of(task))
    if state.multiple:
        return Outcome(**base, status=SKIPPED, reason=MULTIPLE_PERSONS)
    if not state.indices:
        return Outcome(**base, status=SKIPPED, reason='no frame sampled in the segment')
    if state.delivered == 0:
        return Outcome(**base, status=SKIPPED, reason=f'no frames: the video ends before {seg.start:.2f} s')
    if not state.persons:
        return Outcome(**base, status=SKIPPED, reason=NO_PERSON, frames=state.delivered)
    paths = output_paths(settings, seg.sentence_name)
    with timed(stats, 'write'):
        for fmt, path in paths.items():  # the segment is done once all exist (data/tasks.py)
            try:
                write_output(fmt, path, state, task, settings)
            except OSError as err:
                stop = output_error(err, path)  # a full or unwritable folder stops the run
                if stop is not None:
                    raise stop from None
                # anything else is this segment's alone (a folder in the way): the others go on
                return Outcome(**base, status=FAILED, reason=write_error(err, path))
    note = '' if state.delivered == len(state.indices) else \
        f'video ended early: {state.delivered} of {len(state.indices)} frames'
    return Outcome(**base, status=WRITTEN, reason=note, frames=state.delivered, path=str(next(iter(paths.values()))))


def write_error(err: OSError, path) -> str:
    code = errno.errorcode.get(err.errno, err.errno)
    return (f'write error: cannot write {path} ({err.strerror or err}, {code}): fix what is in the way, '
            f'then run the same command: it tries this segment again')


def write_output(fmt: str, path, state: SegmentState, task: VideoTask, settings) -> None:
    """One file of a finished segment, written atomically: the (T, 85, C) .npy or the 133-point .pose."""
    frames = state.delivered
    if fmt == 'npy':
        save_npy_atomic(path, state.rows[:frames])
        return
    from signpose.output.pose_file import wholebody_pose, write_pose_atomic
    k = state.keypoints
    pose = wholebody_pose(k.xy[:frames], k.z[:frames], k.scores[:frames], k.present[:frames],
                          task.info.width, task.info.height, frames_per_second(settings, task.info.fps))
    write_pose_atomic(path, pose)


def failed_outcomes(task: VideoTask, states: List[SegmentState], error: BaseException) -> List[Outcome]:
    """The segments of ``states`` not yet finished, failed with ``error``."""
    reason = f'{type(error).__name__}: {error}'.strip()[:500]
    return failures([s.segment for s in states if not s.done], reason, reader=reader_of(task))
