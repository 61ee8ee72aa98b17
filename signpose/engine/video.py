"""One video and its segments: frames -> detection -> pose -> (T, 85, C) rows.

``extract_video`` is the engine: it decodes the video once for all of its segments (in a
background thread, a bounded number of frames ahead), runs the detector on batches of frames
and the pose model on batches of person crops (with the exact rewrites of speed/speedups.py), and
hands out each segment as soon as its last frame is done (the bookkeeping: engine/segments.py),
for the writer (output/writer.py) to write.
Memory is bounded by DECODE_QUEUE_MB of decoded frames ahead (at most DECODE_QUEUE of them; a
single frame above the budget still passes, one at a time), the frame the decoder holds,
DET_BATCH_SIZE frames, POSE_BATCH_SIZE crops and one small array per open segment, whatever the
segments' length and the frames' size. With HOST_THREADS (by default on CUDA) the decode thread
also runs the detector's test pipeline on each frame, and the pose crops are cut in a thread of
their own as soon as a person is found, while the networks run.

MULTI_PERSON (engine/choosing.py): 'skip' skips a segment at its first frame of several persons;
'largest' poses the largest box of such a frame as the single person; 'signer' poses every box
of such a frame, in the same pose batches, and the segment's close decides whose rows it keeps.

The hand pass (HAND_MODEL_CONFIG; docs/hands.md): each pose batch's persons get their hands
estimated again by the hand model, both hands of every person of the batch in one call, on boxes
from the whole-body keypoints (engine/hand_boxes.py) cut from the original frame; their points are
fused into the person's keypoints (engine/hand_fusion.py) before the rows are made. The frames of
the pose batch's persons are then held until the batch is done (at most POSE_BATCH_SIZE frames).
Without a hand model nothing of this runs.
"""
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterator, List, Optional, Tuple, Union

import numpy as np

from signpose.common.timing import timed, timed_call, timed_items
from signpose.config import Engine
from signpose.contract.extracted import Extracted
from signpose.contract.outcomes import Outcome
from signpose.contract.rows import pose_row
from signpose.data.tasks import VideoTask
from signpose.data.video import Timeline, prefetch, read_frames, read_timeline
from signpose.engine.hand_boxes import hand_boxes
from signpose.engine.hand_fusion import fuse
from signpose.engine.segments import SegmentBook, SegmentState, close_segment, failed_outcomes, plan_segments
from signpose.engine.signer import largest_box
from signpose.nets.detector import Detections
from signpose.nets.devices import Decided
from signpose.nets.inference import Networks
from signpose.install.mmcv_lite import MissingOpError

# what the decode thread hands out: (frame index, pixels, the detector's input made from them in
# that thread with HOST_THREADS, else None)
Frame = Tuple[int, np.ndarray, Optional[dict]]


def queued_bytes(item: Frame) -> int:
    """What a decoded frame holds in the decode queue: its pixels, and the detector's input made
    from it in the decode thread (HOST_THREADS)."""
    total = item[1].nbytes
    inputs = item[2].get('inputs') if isinstance(item[2], dict) else None
    if inputs is not None and hasattr(inputs, 'element_size'):
        total += inputs.numel() * inputs.element_size()
    return total


def plan_video(task: VideoTask, engine: Engine) -> Tuple[Timeline, List[SegmentState]]:
    """The frames' timeline (PyAV: one pass over the packets) and the segments' sampled frames."""
    timeline = read_timeline(task.info)
    return timeline, plan_segments(task, engine, timeline)


class VideoPass:
    """The engine's loop over one video as named steps: ``feed`` a decoded frame into the
    detector's batch, ``detect`` a batch (each frame's persons decide its segments' fate, and a
    lone person's crop joins the pose batch), ``pose`` a batch of crops into rows, ``close`` the
    segments whose frames are all done."""

    def __init__(self, task: VideoTask, networks: Networks, engine: Engine, decided: Decided,
                 states: List[SegmentState], stats: Optional[dict] = None):
        self.task, self.networks, self.engine, self.decided, self.stats = task, networks, engine, decided, stats
        self.book = SegmentBook(states)
        self.det_batch: List[Frame] = []
        # (frame index, slot: None for the frame's one person, else which of its several ('signer'),
        # the crop being prepared, the frame: with a hand model only, for the hand pass)
        self.pose_batch: List[Tuple[int, Optional[int], Future, Optional[np.ndarray]]] = []
        self.hands = networks.hands  # the hand pass's estimator, or None
        self.mode = engine.persons.multi_person
        # On a GPU the host prepares frames and crops in other threads while the networks run; on the
        # CPU the networks use every core, and threads beside them only slow them down (measured)
        self.crops = ThreadPoolExecutor(1, thread_name_prefix='crops') if decided.host_threads else None

    def frames(self, timeline: Timeline) -> Iterator[Frame]:
        """The sampled frames, decoded ahead in a background thread within the queue's bounds."""
        detector, stats = self.networks.detector, self.stats
        decoded = timed_items(read_frames(self.task.info, self.book.frames(), timeline), stats, 'decode')
        if self.decided.host_threads:  # the decode thread also runs the detector's pipeline on each frame
            items = ((index, frame, timed_call(stats, 'prepare', detector.prepare, frame)) for index, frame in decoded)
        else:
            items = ((index, frame, None) for index, frame in decoded)
        return prefetch(items, self.engine.queue_frames, self.engine.queue_mb * 2**20, queued_bytes)

    def feed(self, item: Frame) -> None:
        """A decoded frame joins the detector's batch if an open segment still wants it."""
        index, frame, prepared = item
        if self.book.read(index):
            if prepared is None:
                prepared = timed_call(self.stats, 'prepare', self.networks.detector.prepare, frame)
            self.det_batch.append((index, frame, prepared))

    def detection_due(self) -> bool:
        return len(self.det_batch) >= self.decided.det_batch_size

    def detect(self) -> None:
        """The detector on the batch of frames; each frame's persons go to ``persons_found``."""
        if not self.det_batch:
            return
        found = self.networks.detector([prepared for _, _, prepared in self.det_batch])
        for (index, frame, _), persons in zip(self.det_batch, found):
            self.persons_found(index, frame, persons)
        self.det_batch.clear()

    def persons_found(self, index: int, frame: np.ndarray, persons: Detections) -> None:
        """Several persons skip the frame's segments whole (MULTI_PERSON 'skip'; 'largest' poses the
        largest, 'signer' every one); none leaves a zero row; one person's crop is prepared and
        joins the pose batch (run when full)."""
        self.book.detected(index, persons.scores)
        if self.mode != 'skip' and len(persons):
            self.book.found(index, persons.boxes, persons.scores)
        if len(persons) > 1 and self.mode == 'skip':
            self.book.several_persons(index)
        elif len(persons) == 0:
            self.book.no_person(index)
        elif self.book.open_targets(index):
            if len(persons) == 1:
                self.queue_crop(index, None, frame, persons.boxes[0])
            elif self.mode == 'largest':
                self.queue_crop(index, None, frame, persons.boxes[largest_box(persons.boxes)])
            else:  # 'signer': every person, the segment's close decides
                for slot, box in enumerate(persons.boxes):
                    self.queue_crop(index, slot, frame, box)

    def queue_crop(self, index: int, slot: Optional[int], frame: np.ndarray, box: np.ndarray) -> None:
        self.pose_batch.append((index, slot, self.prepare_crop(frame, box), frame if self.hands is not None else None))
        if len(self.pose_batch) >= self.decided.pose_batch_size:
            self.pose()

    def prepare_crop(self, frame: np.ndarray, box: np.ndarray) -> Future:
        """The top-down crop of one person, in the crops thread (HOST_THREADS) or here and now."""
        prepare, stats = self.networks.estimator.prepare, self.stats
        if self.crops is not None:
            return self.crops.submit(timed_call, stats, 'prepare', prepare, frame, box)
        done = Future()
        done.set_result(timed_call(stats, 'prepare', prepare, frame, box))
        return done

    def pose(self) -> None:
        """The pose model on the batch of crops; each person's row into its frame's segments."""
        if not self.pose_batch:
            return
        info, rows = self.task.info, self.engine.rows
        results = self.networks.estimator([crop.result() for _, _, crop, _ in self.pose_batch])
        records = [None] * len(results)
        if self.hands is not None:
            with timed(self.stats, 'hands'):
                refined = self.hands_pass([frame for *_, frame in self.pose_batch], results)
            results, records = [pose for pose, _ in refined], [record for _, record in refined]
        for (index, slot, _, _), (xy, z, scores), record in zip(self.pose_batch, results, records):
            if slot is not None:  # 'signer': one of several persons; the segment's close decides
                self.book.candidate_pose(index, slot, (xy, z, scores), record)
                continue
            with timed(self.stats, 'post-process'):
                row = pose_row(xy, z, scores, info.width, info.height, rows.keypoints, rows.visibility)
            self.book.pose(index, row, (xy, z, scores), record)
        self.pose_batch.clear()

    def hands_pass(self, frames: List[np.ndarray], poses: list) -> list:
        """The hand pass on a pose batch's persons (``hands_pass``)."""
        return hands_pass(self.hands, frames, poses, self.task.info.width, self.task.info.height)

    def close(self, next_index: float) -> Iterator[Union[Outcome, Extracted]]:
        """The segments finished once every frame before ``next_index`` is read, one at a time (each
        is out, and written, before the next is decided)."""
        for state in self.book.finished(next_index):
            yield close_segment(state, self.task, self.engine, self.hands.source if self.hands is not None else ('', ''))

    def shutdown(self) -> None:
        if self.crops is not None:
            self.crops.shutdown(wait=True, cancel_futures=True)


def hands_pass(hands, frames: List[np.ndarray], poses: list, width: int, height: int) -> list:
    """The hand pass on persons (``poses``: (xy, z, scores) each, ``frames``: the frame each is in):
    each one's (pose with refined hands, HandRecord). Both hands of every person go through the hand
    estimator ``hands`` together (in calls of at most its batch size); a hand without a box (weak,
    empty, outside) keeps its whole-body values."""
    boxes = [hand_boxes(xy, scores, width, height) for xy, _, scores in poses]
    crops, owners = [], []
    for person, (frame, person_boxes) in enumerate(zip(frames, boxes)):
        for side, found in enumerate(person_boxes):
            if found.used:
                crops.append(hands.prepare(frame, found.box))
                owners.append((person, side))
    estimated, size = [], max(1, hands.batch_size)
    for at in range(0, len(crops), size):
        estimated += hands(crops[at:at + size])
    per_person = [[None, None] for _ in poses]
    for (person, side), hand in zip(owners, estimated):
        per_person[person][side] = hand
    return [fuse(pose, found, hand) for pose, found, hand in zip(poses, boxes, per_person)]


def extract_video(task: VideoTask, networks: Networks, engine: Engine, decided: Decided,
                  stats: Optional[dict] = None) -> Iterator[Union[Outcome, Extracted]]:
    """The engine (see the module docstring): one item per segment of the task, an Outcome (a skip,
    a failure) or the segment's landmarks to write. ``stats``, if given, receives seconds spent per
    stage (decode is measured in its thread)."""
    try:
        timeline, states = plan_video(task, engine)
    except Exception as err:
        yield from failed_outcomes(task, plan_segments(task, engine), err)
        return
    run = VideoPass(task, networks, engine, decided, states, stats)
    try:
        for item in run.frames(timeline):
            run.feed(item)
            if run.detection_due():
                run.detect()
                yield from run.close(item[0] + 1)
        run.detect()
        run.pose()
        yield from run.close(float('inf'))
    except MissingOpError:  # every video would fail alike: the run stops
        raise
    except Exception as err:  # recorded per segment; the run goes on with the next video
        yield from failed_outcomes(task, states, err)
    finally:
        run.shutdown()
