"""NOT the engine: the design's per-frame loop, kept only as the reference that the engine is
tested (tests/test_engine.py: equal outputs) and benchmarked (scripts/benchmarks/stage.py: the speed-up)
against. Per segment, per frame: mmdet's ``inference_detector``, then mmpose's
``inference_topdown`` on the single person; the same bookkeeping and writer as the stage."""
from typing import Iterator, List, Optional, Sequence

import numpy as np

from signpose.common.timing import timed, timed_items
from signpose.config import Options
from signpose.contract.outcomes import Outcome
from signpose.contract.rows import pose_row
from signpose.data.tasks import VideoTask
from signpose.data.video import read_frames
from signpose.engine.segments import close_segment, failed_outcomes, plan_segments, record_pose
from signpose.engine.video import plan_video
from signpose.nets.detector import Detections, detections_of
from signpose.install.mmcv_lite import MissingOpError
from signpose.nets.pose import Pose, pose_of
from signpose.speed.precision import precision_context
from signpose.output.storage import OutputError
from signpose.output.writer import outcome_of


class PerFrameModels:
    """The per-frame calls of the design: mmdet's ``inference_detector``, mmpose's ``inference_topdown``."""

    def __init__(self, models, options: Options):
        self.models, self.options = models, options

    def detect(self, frames: Sequence[np.ndarray]) -> List[Detections]:
        from mmdet.apis import inference_detector  # mmdet.apis imports a lot: only the reference needs it
        m = self.options.models
        with precision_context(self.options.compute.precision, self.models.device):
            return [detections_of(inference_detector(self.models.detector, frame), m.det_cat_id, m.bbox_thr)
                    for frame in frames]

    def estimate(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> List[Pose]:
        from mmpose.apis import inference_topdown  # as above
        with precision_context(self.options.compute.precision, self.models.device):
            return [pose_of(inference_topdown(self.models.pose, frame, box[None])[0])
                    for frame, box in zip(frames, boxes)]


def process_video_per_frame(task: VideoTask, models: PerFrameModels, options: Options,
                            stats: Optional[dict] = None) -> Iterator[Outcome]:
    """The design's loop: per segment, per frame, detect, then pose the single person; written
    by the stage's own writer (``options``: Options.of the settings)."""
    engine = options.engine
    try:
        timeline, states = plan_video(task, engine)
    except Exception as err:
        yield from failed_outcomes(task, plan_segments(task, engine), err)
        return
    for state in states:
        try:
            for index, frame in timed_items(read_frames(task.info, state.indices, timeline), stats, 'decode'):
                state.delivered += 1
                persons = models.detect([frame])[0]
                state.person_scores.append(persons.scores)
                if len(persons) > 1:
                    state.multiple = True
                    break
                if len(persons) == 1:
                    xy, z, scores = models.estimate([frame], [persons.boxes[0]])[0]
                    with timed(stats, 'post-process'):
                        row = pose_row(xy, z, scores, task.info.width, task.info.height,
                                       engine.rows.keypoints, engine.rows.visibility)
                    record_pose(state, index, row, (xy, z, scores))
            outcome = outcome_of(close_segment(state, task, engine), options.output, stats)
        except (OutputError, MissingOpError):
            raise
        except Exception as err:
            yield from failed_outcomes(task, [state], err)
            continue
        yield outcome
