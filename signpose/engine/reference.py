"""The design's per-frame loop, kept as the reference the engine is tested and benchmarked against:
per segment, per frame, ``inference_detector`` then ``inference_topdown`` on the single person."""
from typing import Iterator, List, Optional, Sequence

import numpy as np

from signpose.data.tasks import VideoTask
from signpose.data.video import read_frames
from signpose.engine.batched import plan_video, timed_frames
from signpose.engine.landmarks import pose_row
from signpose.engine.segments import failed_outcomes, finish, plan_segments, record_pose, timed
from signpose.nets.detector import person_boxes
from signpose.nets.pose import Pose, pose_of
from signpose.nets.precision import precision_context
from signpose.output.ledger import Outcome
from signpose.nets.mmcv_lite import MissingOpError
from signpose.output.storage import OutputError


class ReferenceInference:
    """The per-frame calls of the design: mmdet's ``inference_detector``, mmpose's ``inference_topdown``."""

    def __init__(self, models, settings):
        self.models = models
        self.settings = settings

    def detect(self, frames: Sequence[np.ndarray]) -> List[np.ndarray]:
        from mmdet.apis import inference_detector
        with precision_context(self.settings.PRECISION, self.models.device):
            return [person_boxes(inference_detector(self.models.detector, frame),
                                 self.settings.DET_CAT_ID, self.settings.BBOX_THR) for frame in frames]

    def pose(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> List[Pose]:
        from mmpose.apis import inference_topdown
        with precision_context(self.settings.PRECISION, self.models.device):
            return [pose_of(inference_topdown(self.models.pose, frame, box[None])[0])
                    for frame, box in zip(frames, boxes)]


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
                        row = pose_row(xy, z, scores, task.info.width, task.info.height,
                                       settings.COCO_WHOLEBODY_IDX, settings.ADD_VISIBLE)
                    record_pose(state, index, row, (xy, z, scores))
            yield finish(state, task, settings, stats)
        except (OutputError, MissingOpError):
            raise
        except Exception as err:
            yield from failed_outcomes(task, [state], err)
