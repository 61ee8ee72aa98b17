"""One video and its segments: frames -> detection -> pose -> (T, 85, C) arrays -> files.

``process_video`` is the engine: it decodes the video once for all of its segments (in a
background thread, a bounded number of frames ahead), runs the detector on batches of frames
and the pose model on batches of person crops (with the exact rewrites of speedups.py), and
writes each segment as soon as its last
frame is done. Memory is bounded by DECODE_QUEUE + DET_BATCH_SIZE frames, POSE_BATCH_SIZE crops
and one small array per open segment, whatever the segments' length. With HOST_THREADS (by
default on CUDA) the decode thread also runs the detector's test pipeline on each frame, and
the pose crops are cut in a thread of their own as soon as a person is found, while the
networks run.

``process_video_per_frame`` is the design's per-frame loop, kept as the reference the engine
is tested and benchmarked against.
"""
import time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from signpose.engine.landmarks import pose_row
from signpose.data.manifest import Segment
from signpose.output.ledger import FAILED, MULTIPLE_PERSONS, NO_PERSON, SKIPPED, WRITTEN, Outcome, save_npy_atomic
from signpose.data.sampling import sample_frames
from signpose.output.storage import OutputError, output_error
from signpose.data.tasks import VideoTask, output_path
from signpose.data.video import Timeline, prefetch, read_frames, read_timeline


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


def host_threads(settings, infer) -> bool:
    """HOST_THREADS, or (None) whether the networks run on CUDA."""
    wanted = getattr(settings, 'HOST_THREADS', None)
    return bool(getattr(infer, 'cuda', False)) if wanted is None else bool(wanted)


def timed_call(stats: Optional[dict], key: str, fn, *args):
    with timed(stats, key):
        return fn(*args)


def timed_frames(frames: Iterator, stats: Optional[dict]) -> Iterator:
    while True:
        with timed(stats, 'decode'):
            item = next(frames, None)
        if item is None:
            return
        yield item


@dataclass
class SegmentState:
    segment: Segment
    indices: List[int]
    rows: np.ndarray  # (len(indices), 85, C), zeros until filled
    position: Dict[int, int] = field(default_factory=dict)
    delivered: int = 0  # frames of the segment read so far (a prefix of indices)
    resolved: int = 0  # frames whose row is final
    persons: bool = False
    multiple: bool = False
    done: bool = False


def plan_segments(task: VideoTask, settings, timeline: Optional[Timeline] = None) -> List[SegmentState]:
    width = len(settings.COCO_WHOLEBODY_IDX)
    times = timeline.times if timeline is not None else None
    states = []
    for seg in task.segments:
        indices = sample_frames(task.info.fps, seg.start, seg.end, settings.REDUCE_FPS_TO, settings.FRAME_SKIP, times)
        rows = np.zeros((len(indices), width, 4 if settings.ADD_VISIBLE else 3), dtype=np.float32)
        states.append(SegmentState(seg, indices, rows, {i: p for p, i in enumerate(indices)}))
    return states


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
    path = output_path(settings.NPY_DIR, seg.sentence_name)
    with timed(stats, 'write'):
        try:
            save_npy_atomic(path, state.rows[:state.delivered])
        except OSError as err:
            stop = output_error(err, path)  # a full or unwritable folder stops the run
            if stop is None:
                raise
            raise stop from None
    note = '' if state.delivered == len(state.indices) else \
        f'video ended early: {state.delivered} of {len(state.indices)} frames'
    return Outcome(**base, status=WRITTEN, reason=note, frames=state.delivered, path=str(path))


def reader_of(task: VideoTask) -> str:
    """Which decoder read the video, and its codec (for the ledger and the console)."""
    return f'{task.info.backend} {task.info.codec}'.strip()


def failed_outcomes(task: VideoTask, states: List[SegmentState], error: BaseException) -> List[Outcome]:
    reason = f'{type(error).__name__}: {error}'.strip()[:500]
    return [Outcome(s.segment.sentence_name, s.segment.video_name, FAILED, reason, reader=reader_of(task))
            for s in states if not s.done]


def plan_video(task: VideoTask, settings):
    """The frames' timeline (PyAV: one pass over the packets) and the segments' sampled frames."""
    timeline = read_timeline(task.info)
    return timeline, plan_segments(task, settings, timeline)


def process_video(task: VideoTask, infer, settings, stats: Optional[dict] = None) -> Iterator[Outcome]:
    """The engine (see the module docstring). Yields one Outcome per segment of the task.

    ``stats``, if given, receives seconds spent per stage (decode is measured in its thread).
    """
    try:
        timeline, states = plan_video(task, settings)
    except Exception as err:
        yield from failed_outcomes(task, plan_segments(task, settings), err)
        return
    wanted: Dict[int, List[SegmentState]] = defaultdict(list)
    for state in states:
        for index in state.indices:
            wanted[index].append(state)
    width, height = task.info.width, task.info.height
    det_batch, pose_batch = [], []  # (index, frame, detector input) and (index, pose input future)
    # On a GPU the host prepares frames and crops in other threads while the networks run; on the
    # CPU the networks use every core, and threads beside them only slow them down (measured)
    threads = host_threads(settings, infer)
    crops = ThreadPoolExecutor(1, thread_name_prefix='crops') if threads else None

    def prepare(fn, *args) -> Future:
        if crops is not None:
            return crops.submit(timed_call, stats, 'prepare', fn, *args)
        done = Future()
        done.set_result(timed_call(stats, 'prepare', fn, *args))
        return done

    def open_targets(index):
        return [s for s in wanted[index] if not s.multiple]

    def run_pose():
        results = infer.pose_prepared([crop.result() for _, crop in pose_batch])
        for (index, _), (xy, z, scores) in zip(pose_batch, results):
            with timed(stats, 'post-process'):
                row = pose_row(xy, z, scores, width, height, settings.COCO_WHOLEBODY_IDX, settings.ADD_VISIBLE)
            for s in open_targets(index):
                s.rows[s.position[index]] = row
                s.persons = True
                s.resolved += 1
        pose_batch.clear()

    def run_detection():
        boxes = infer.detect_prepared([prepared for _, _, prepared in det_batch])
        for (index, frame, _), persons in zip(det_batch, boxes):
            targets = open_targets(index)
            if len(persons) > 1:
                for s in targets:
                    s.multiple = True
            elif len(persons) == 0:
                for s in targets:
                    s.resolved += 1  # the row stays zeros
            elif targets:
                pose_batch.append((index, prepare(infer.prepare_crop, frame, persons[0])))
                if len(pose_batch) >= settings.POSE_BATCH_SIZE:
                    run_pose()
        det_batch.clear()

    def finished(next_index):
        """Segments that can be closed now that every frame before next_index has been read."""
        for s in states:
            if s.done:
                continue
            all_read = not s.indices or s.indices[-1] < next_index
            if s.multiple or (all_read and s.resolved == s.delivered):
                yield finish(s, task, settings, stats)

    try:
        decoded = timed_frames(read_frames(task.info, sorted(wanted), timeline), stats)
        if threads:  # the decode thread also runs the detector's pipeline on each frame
            decoded = ((index, frame, timed_call(stats, 'prepare', infer.prepare_frame, frame))
                       for index, frame in decoded)
        for index, frame, *detector_input in prefetch(decoded, settings.DECODE_QUEUE):
            for s in wanted[index]:
                s.delivered += 1
            if open_targets(index):
                det_batch.append((index, frame, detector_input[0] if detector_input else
                                  timed_call(stats, 'prepare', infer.prepare_frame, frame)))
            if len(det_batch) >= settings.DET_BATCH_SIZE:
                run_detection()
                yield from finished(index + 1)
        if det_batch:
            run_detection()
        if pose_batch:
            run_pose()
        yield from finished(float('inf'))
    except OutputError:
        raise
    except Exception as err:  # recorded per segment; the run goes on with the next video
        yield from failed_outcomes(task, states, err)
    finally:
        if crops is not None:
            crops.shutdown(wait=True, cancel_futures=True)


def process_video_per_frame(task: VideoTask, infer, settings, stats: Optional[dict] = None
                            ) -> Iterator[Outcome]:
    """The design's loop: per segment, per frame, detect, then pose the single person."""
    try:
        timeline, states = plan_video(task, settings)
    except Exception as err:
        yield from failed_outcomes(task, plan_segments(task, settings), err)
        return
    for state in states:
        try:
            for index, frame in timed_frames(read_frames(task.info, state.indices, timeline), stats):
                state.delivered += 1
                boxes = infer.detect([frame])[0]
                if len(boxes) > 1:
                    state.multiple = True
                    break
                if len(boxes) == 1:
                    xy, z, scores = infer.pose([frame], [boxes[0]])[0]
                    with timed(stats, 'post-process'):
                        state.rows[state.position[index]] = pose_row(
                            xy, z, scores, task.info.width, task.info.height, settings.COCO_WHOLEBODY_IDX,
                            settings.ADD_VISIBLE)
                    state.persons = True
            yield finish(state, task, settings, stats)
        except OutputError:
            raise
        except Exception as err:
            yield from failed_outcomes(task, [state], err)


def outcomes_until_stop(outcomes: Iterator[Outcome]) -> Tuple[List[Outcome], Optional[OutputError]]:
    """A worker's outcomes of one video, and the OutputError that stopped it, if any: the
    segments written before it reach the driver's ledger, which then stops the run."""
    done: List[Outcome] = []
    try:
        for outcome in outcomes:
            done.append(outcome)
    except OutputError as err:
        return done, err
    return done, None

