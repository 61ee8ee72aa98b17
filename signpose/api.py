"""The library: the detector and the pose model loaded once, and the landmarks of video segments
and images handed back as arrays (no file written).

    import signpose
    extractor = signpose.Extractor(device='cpu')
    landmarks = extractor.segment('video.mp4', 12.0, 15.5)  # (T, 85, 4) float32, as the stage writes it

An ``Extractor`` is built from ``configs/extract_mmpose.py``'s constants, from another config file
(``config=``) or with any of them as keyword arguments in lower case (``device='cpu'``,
``multi_person='signer'``, ``det_batch_size=4``, ...). Missing checkpoints are downloaded from their
``*_CHECKPOINT_LINK`` on first use. The stage's worker processes and Ray actors are Extractors
too (``Extractor.from_options``): what a worker runs with is decided once, here.
"""
import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from signpose.common.errors import SetupError
from signpose.config import DEFAULT_CONFIG, FIELDS, Options, SettingsError, load_settings, value_problems
from signpose.contract.extracted import Extracted, Keypoints
from signpose.contract.outcomes import Outcome, SKIPPED
from signpose.contract.rows import NUM_COCO_WHOLEBODY
from signpose.data.manifest import Segment
from signpose.data.tasks import VideoTask, duration_skip, fps_skip
from signpose.data.video import VideoError, probe, video_backend_problem
from signpose.engine.video import extract_video, hands_pass
from signpose.nets.devices import Decided, precision_problem, resolve
from signpose.nets.inference import Networks, build_networks
from signpose.nets.loading import dependency_problems, ensure_checkpoints, load_models, model_file_problems
from signpose.speed.runtimes import backend_problem

Span = Union[Tuple[float, float], Tuple[str, float, float]]


class SegmentSkipped(RuntimeError):
    """``Extractor.segment``: the segment gives no landmarks (the stage writes no file for it); the
    reason is the stage's, e.g. 'multiple persons detected' or 'no person detected'."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Person:
    """One person in an image: the detector's box and score, RTMW3D's 133 COCO-WholeBody keypoints."""
    box: np.ndarray  # (4,) float32: x1, y1, x2, y2 in pixels
    score: float  # the detector's score
    keypoints: np.ndarray  # (133, 3) float32: x, y in pixels, z in metres (root-relative depth)
    scores: np.ndarray  # (133,) float32: the keypoint scores clipped to [0, 1], as the .npy's visibility


@dataclass
class SegmentResult:
    """One segment of ``Extractor.segments``: its landmarks, or why there are none."""
    name: str
    start: float
    end: float
    landmarks: Optional[np.ndarray]  # (T, 85, C) float32, exactly the stage's .npy; None when skipped
    reason: str = ''  # why skipped or failed; for a written segment a note ('video ended early: ...')
    status: str = SKIPPED  # 'written' (landmarks), 'skipped' or 'failed'
    fps: Optional[float] = None  # the rate the frames were sampled at
    keypoints: Optional[Keypoints] = None  # all 133 in pixels per frame (with keypoints=True)
    quality: Optional[dict] = None  # the quality measures the ledger records (engine/quality.py)
    selection: Optional[dict] = field(default=None, repr=False)  # MULTI_PERSON's choice, when it chose
    hands: Optional[dict] = field(default=None, repr=False)  # the hand pass's summary per hand (as in the ledger)


def settings_from(config=None, keywords: Optional[dict] = None):
    """Settings of a config module (default: configs/extract_mmpose.py) with keyword overrides in lower
    case. A keyword that names no setting: TypeError naming it and the choices; a bad value: a
    SettingsError listing every problem."""
    overrides = {}
    for key, value in (keywords or {}).items():
        name = key.upper()
        if name not in FIELDS or name == 'ROOT':
            choices = sorted(n.lower() for n in FIELDS if n != 'ROOT')
            near = difflib.get_close_matches(key.lower(), choices, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ''
            raise TypeError(f'unknown setting {key!r}{hint}; the settings are: {", ".join(choices)}')
        overrides[name] = list(value) if isinstance(value, tuple) else value
    settings = load_settings(config or DEFAULT_CONFIG, overrides)
    problems = value_problems(settings)
    if problems:
        raise SettingsError(problems)
    return settings


def setup_problems(options: Options) -> List[str]:
    """What stops the networks from running here: the packages, the model files, the machine (one
    line each, naming the fix)."""
    found = dependency_problems()
    if found:
        return found
    found = model_file_problems(options.models)
    found += [p for p in (precision_problem(options.compute), video_backend_problem(options.sampling.video_backend),
                          backend_problem(options.compute)) if p]
    return found


class Extractor:
    """RTMDet + RTMW3D on one device, loaded once (see the module docstring)."""

    def __init__(self, config=None, **settings):
        options = Options.of(settings_from(config, settings))
        problems = setup_problems(options)
        if problems:
            raise SetupError('; '.join(problems))
        self._load(options, None, lambda line: None)

    @classmethod
    def from_options(cls, options: Options, device: Optional[str] = None, log=print) -> 'Extractor':
        """The one way a worker is built (the stage's workers, Ray's actors, the benchmarks): the
        checks are the caller's, ``device`` picks one of a DEVICE list."""
        extractor = cls.__new__(cls)
        extractor._load(options, device, log)
        return extractor

    @classmethod
    def around(cls, networks: Networks, options: Options, decided: Optional[Decided] = None) -> 'Extractor':
        """An Extractor around networks built elsewhere (scripted networks in tests, the benchmark's
        calibrated models); ``decided`` defaults to what ``options`` decide for the CPU."""
        extractor = cls.__new__(cls)
        extractor.options, extractor.networks = options, networks
        extractor.decided = decided or resolve(options.compute, 'cpu', warn=False)
        return extractor

    def _load(self, options: Options, device: Optional[str], log) -> None:
        ensure_checkpoints(options.models, log)
        self.options = options
        self.decided: Decided = resolve(options.compute, device)
        loaded = load_models(options.models, self.decided, log=log)
        self.networks: Networks = build_networks(loaded, options.models, self.decided,
                                                 options.compute.runtime_cache, log=log)
        if self.decided.backend != 'pytorch':  # a runtime exports (or loads) its networks now
            self.networks.warm_up()

    # ------------------------------------------------------------------ the engine
    def run(self, task: VideoTask, stats: Optional[dict] = None) -> Iterator[Union[Outcome, Extracted]]:
        """The engine on one planned video (data/tasks.py): per segment, its landmarks (Extracted)
        or its Outcome (a skip, a failure). The stage writes what this yields."""
        return extract_video(task, self.networks, self.options.engine, self.decided, stats)

    # ------------------------------------------------------------------ video segments
    def segments(self, video, spans: Sequence[Span], keypoints: bool = False) -> List[SegmentResult]:
        """Several segments of one video, decoding it once: ``spans`` are (start, end) in seconds,
        or (name, start, end). One SegmentResult each, in the order given. ``keypoints=True`` also
        keeps all 133 keypoints in pixels per frame (what a .pose file holds)."""
        path = Path(video)
        segments = [Segment(path.stem, *(span if len(span) == 3 else (f'{path.stem}_{i}', *span)))
                    for i, span in enumerate(spans)]
        for seg in segments:
            if not seg.end > seg.start:
                raise ValueError(f'segment {seg.sentence_name}: end ({seg.end}) must be after start ({seg.start})')
        if not path.is_file():
            raise FileNotFoundError(f'no such video: {path}')
        sampling = self.options.sampling
        info = probe(path, sampling.video_backend)  # VideoError: the file cannot be read, in one line
        results = {seg.sentence_name: SegmentResult(seg.sentence_name, seg.start, seg.end, None) for seg in segments}
        todo = []
        for seg in segments:
            skip = duration_skip(seg, sampling) or fps_skip(info, sampling)
            if skip:
                results[seg.sentence_name].reason = '{}: {}'.format(*skip)
            else:
                todo.append(seg)
        engine = self.options.engine
        if keypoints and not engine.keep_keypoints:
            engine = dataclasses.replace(engine, keep_keypoints=True)
        task = VideoTask(path.stem, info, sorted(todo, key=lambda s: (s.start, s.end)))
        for item in extract_video(task, self.networks, engine, self.decided):
            result = results[item.sentence]
            if isinstance(item, Extracted):
                result.landmarks, result.status, result.fps = item.rows, 'written', item.fps
                result.keypoints = item.keypoints if keypoints else None
                if item.frames != item.sampled:
                    result.reason = f'video ended early: {item.frames} of {item.sampled} frames'
                result.quality, result.selection, result.hands = item.quality, item.selection, item.hands_summary
            else:
                result.status, result.reason, result.quality = item.status, item.reason, item.quality
                result.selection = item.selection
        return [results[seg.sentence_name] for seg in segments]

    def segment(self, video, start: float, end: float) -> np.ndarray:
        """One segment's (T, 85, C) float32 landmarks, exactly what the stage writes for it;
        SegmentSkipped (with the stage's reason) when the stage would write nothing."""
        result = self.segments(video, [(start, end)])[0]
        if result.landmarks is None:
            raise SegmentSkipped(result.reason)
        return result.landmarks

    # ------------------------------------------------------------------ images
    def image(self, frame: np.ndarray) -> List[Person]:
        """Every person the detector finds in one BGR image (as cv2.imread gives it), with the
        133 keypoints of each (with a hand model, the hands refined as the stage refines them);
        an empty list when there is nobody."""
        frame = np.ascontiguousarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f'expected a BGR image of shape (height, width, 3) uint8, not {frame.shape} {frame.dtype}')
        found = self.networks.detector.detect([frame])[0]
        if not len(found):
            return []
        poses = self.networks.estimator.estimate([frame] * len(found), list(found.boxes))
        if self.networks.hands is not None:  # the hand pass, as the engine runs it
            height, width = frame.shape[:2]
            poses = [pose for pose, _ in hands_pass(self.networks.hands, [frame] * len(poses), poses, width, height)]
        people = []
        for box, score, (xy, z, scores) in zip(found.boxes, found.scores, poses):
            points = np.concatenate([np.asarray(xy, np.float32).reshape(NUM_COCO_WHOLEBODY, 2),
                                     np.asarray(z, np.float32).reshape(NUM_COCO_WHOLEBODY, 1)], axis=1)
            people.append(Person(np.asarray(box, np.float32), float(score), points,
                                 np.clip(np.asarray(scores, np.float32), 0, 1)))
        return people


__all__ = ['Extractor', 'Person', 'SegmentResult', 'SegmentSkipped', 'SettingsError', 'SetupError', 'VideoError']
