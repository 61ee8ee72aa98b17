"""One video and its segments: frames -> detection -> pose -> (T, 85, C) arrays -> files.

``process_video`` is the engine: it decodes the video once for all of its segments (in a
background thread, a bounded number of frames ahead), runs the detector on batches of frames
and the pose model on batches of person crops (with the exact rewrites of nets/speedups.py), and
writes each segment as soon as its last frame is done (the bookkeeping: engine/segments.py).
Memory is bounded by DECODE_QUEUE_MB of decoded frames ahead (at most DECODE_QUEUE of them; a
single frame above the budget still passes, one at a time), the frame the decoder holds,
DET_BATCH_SIZE frames, POSE_BATCH_SIZE crops and one small array per open segment, whatever the
segments' length and the frames' size. With HOST_THREADS (by default on CUDA)
the decode thread also runs the detector's test pipeline on each frame, and the pose crops are
cut in a thread of their own as soon as a person is found, while the networks run.
"""
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterator, List, Optional, Tuple

from signpose.data.tasks import VideoTask
from signpose.data.video import Timeline, prefetch, read_frames, read_timeline
from signpose.engine.landmarks import pose_row
from signpose.engine.segments import SegmentBook, failed_outcomes, finish, plan_segments, timed
from signpose.nets.mmcv_lite import MissingOpError
from signpose.output.ledger import Outcome
from signpose.output.storage import OutputError


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


def queued_bytes(item) -> int:
    """What a decoded frame holds in the decode queue: its pixels, and the detector's input made
    from it in the decode thread (HOST_THREADS)."""
    total = item[1].nbytes
    if len(item) > 2:
        inputs = item[2].get('inputs') if isinstance(item[2], dict) else None
        if inputs is not None and hasattr(inputs, 'element_size'):
            total += inputs.numel() * inputs.element_size()
    return total


def plan_video(task: VideoTask, settings) -> Tuple[Timeline, list]:
    """The frames' timeline (PyAV: one pass over the packets) and the segments' sampled frames."""
    timeline = read_timeline(task.info)
    return timeline, plan_segments(task, settings, timeline)


def process_video(task: VideoTask, infer, settings, stats: Optional[dict] = None) -> Iterator[Outcome]:
    """The engine (see the module docstring). Yields one Outcome per segment of the task.

    ``settings`` as ``nets.devices.resolve`` gives them (batch sizes, HOST_THREADS decided);
    ``stats``, if given, receives seconds spent per stage (decode is measured in its thread).
    """
    try:
        timeline, states = plan_video(task, settings)
    except Exception as err:
        yield from failed_outcomes(task, plan_segments(task, settings), err)
        return
    book = SegmentBook(states)
    width, height = task.info.width, task.info.height
    det_batch, pose_batch = [], []  # (index, frame, detector input) and (index, pose input future)
    # On a GPU the host prepares frames and crops in other threads while the networks run; on the
    # CPU the networks use every core, and threads beside them only slow them down (measured)
    threads = settings.HOST_THREADS
    crops = ThreadPoolExecutor(1, thread_name_prefix='crops') if threads else None

    def prepare(fn, *args) -> Future:
        if crops is not None:
            return crops.submit(timed_call, stats, 'prepare', fn, *args)
        done = Future()
        done.set_result(timed_call(stats, 'prepare', fn, *args))
        return done

    def run_pose():
        results = infer.pose_prepared([crop.result() for _, crop in pose_batch])
        for (index, _), (xy, z, scores) in zip(pose_batch, results):
            with timed(stats, 'post-process'):
                row = pose_row(xy, z, scores, width, height, settings.COCO_WHOLEBODY_IDX, settings.ADD_VISIBLE)
            book.pose(index, row, (xy, z, scores))
        pose_batch.clear()

    def run_detection():
        boxes = infer.detect_prepared([prepared for _, _, prepared in det_batch])
        for (index, frame, _), persons in zip(det_batch, boxes):
            if len(persons) > 1:
                book.several_persons(index)
            elif len(persons) == 0:
                book.no_person(index)
            elif book.open_targets(index):
                pose_batch.append((index, prepare(infer.prepare_crop, frame, persons[0])))
                if len(pose_batch) >= settings.POSE_BATCH_SIZE:
                    run_pose()
        det_batch.clear()

    def close(next_index) -> Iterator[Outcome]:
        for state in book.finished(next_index):  # one at a time: each outcome is out before the next write
            yield finish(state, task, settings, stats)

    try:
        decoded = timed_frames(read_frames(task.info, book.frames(), timeline), stats)
        if threads:  # the decode thread also runs the detector's pipeline on each frame
            decoded = ((index, frame, timed_call(stats, 'prepare', infer.prepare_frame, frame))
                       for index, frame in decoded)
        ahead = prefetch(decoded, settings.DECODE_QUEUE, settings.DECODE_QUEUE_MB * 2**20, queued_bytes)
        for index, frame, *detector_input in ahead:
            if book.read(index):
                det_batch.append((index, frame, detector_input[0] if detector_input else
                                  timed_call(stats, 'prepare', infer.prepare_frame, frame)))
            if len(det_batch) >= settings.DET_BATCH_SIZE:
                run_detection()
                yield from close(index + 1)
        if det_batch:
            run_detection()
        if pose_batch:
            run_pose()
        yield from close(float('inf'))
    except (OutputError, MissingOpError):  # the folder is full, or every video would fail alike: the run stops
        raise
    except Exception as err:  # recorded per segment; the run goes on with the next video
        yield from failed_outcomes(task, states, err)
    finally:
        if crops is not None:
            crops.shutdown(wait=True, cancel_futures=True)


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
