"""The stage's settings: the constants of configs/extract_mmpose.py (plus --cfg-options) parsed once
into one frozen, typed ``Settings``, and every check of the values themselves (``value_problems``;
the checks of files, packages and the machine: run/checks.py).

A worker's variant of the settings (its GPU, its batch sizes) is ``dataclasses.replace(settings, ...)``.
"""
import argparse
import dataclasses
import importlib.util
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple, Union

from mmengine.config import Config, DictAction

from signpose.contract.rows import NUM_COCO_WHOLEBODY, channels

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / 'configs' / 'extract_mmpose.py'

PRECISIONS = ('fp32', 'fp16', 'bf16')
EXECUTORS = ('local', 'inline', 'ray')
OUTPUT_FORMATS = ('npy', 'pose')
MULTI_PERSON_MODES = ('skip', 'largest', 'signer')  # engine/signer.py's MODES


@dataclass(frozen=True)
class Settings:
    """One field per constant of configs/extract_mmpose.py (its comments say what each means)."""
    # paths
    ROOT: str
    VIDEO_DIR: str
    NPY_DIR: str
    CSV_FILE: str
    # frame sampling
    REDUCE_FPS_TO: Optional[float]
    FRAME_SKIP: int
    ACCEPT_VIDEO_FPS_WITHIN: Tuple[float, float]
    MIN_SEGMENT_SECONDS: float
    MAX_SEGMENT_SECONDS: float
    VIDEO_BACKEND: str
    # workers
    MAX_WORKERS: int
    CPU_THREADS: Optional[int]
    EXECUTOR: str
    RETRY_CRASHED: bool
    RAY_ADDRESS: Optional[str]
    NUM_SHARDS: int
    SHARD_INDEX: int
    # models
    DET_MODEL_CONFIG: str
    DET_MODEL_CHECKPOINT: str
    DET_MODEL_CHECKPOINT_LINK: str
    POSE_MODEL_CONFIG: str
    POSE_MODEL_CHECKPOINT: str
    POSE_MODEL_CHECKPOINT_LINK: str
    HAND_MODEL_CONFIG: Optional[str]  # None: no hand pass (docs/hands.md)
    HAND_MODEL_CHECKPOINT: str
    HAND_MODEL_CHECKPOINT_LINK: str
    # detection and pose
    ADD_VISIBLE: bool
    BBOX_THR: float
    KPT_THR: float
    DET_CAT_ID: int
    MULTI_PERSON: str
    DEVICE: Union[str, Tuple[str, ...]]
    # engine
    DET_BATCH_SIZE: Optional[int]
    POSE_BATCH_SIZE: Optional[int]
    DECODE_QUEUE: int
    DECODE_QUEUE_MB: int
    HOST_THREADS: Optional[bool]
    PRECISION: str
    BACKEND: str
    RUNTIME_CACHE: str
    # output
    OUTPUT_FORMATS: Tuple[str, ...]
    COCO_WHOLEBODY_IDX: Tuple[int, ...]

    def replace(self, **changes) -> 'Settings':
        return dataclasses.replace(self, **changes)


# ------------------------------------------------------------------ the settings narrowed per layer
# Each layer takes only the options it uses: data/ a Sampling and an Output, engine/ an Engine,
# output/ an Output, nets/ Models and Compute. ``Options.of(settings)`` makes them all, once, at
# the edge (the command, the API); nothing below config.py and run/ sees the whole Settings.


@dataclass(frozen=True)
class Sampling:
    """Which frames of which segments: data/ (tasks, sampling) and engine/segments."""
    fps: Optional[float]  # REDUCE_FPS_TO: keep about this many frames per second; None: every frame_skip-th
    frame_skip: int  # FRAME_SKIP
    accept_fps: Tuple[float, float]  # ACCEPT_VIDEO_FPS_WITHIN
    min_seconds: float  # MIN_SEGMENT_SECONDS
    max_seconds: float  # MAX_SEGMENT_SECONDS
    video_backend: str  # VIDEO_BACKEND

    def rate(self, video_fps: float) -> float:
        """Frames kept per second of a video at ``video_fps`` (REDUCE_FPS_TO, else every FRAME_SKIP-th)."""
        if self.fps:
            return min(float(self.fps), video_fps)
        return video_fps / max(1, int(self.frame_skip))


@dataclass(frozen=True)
class Rows:
    """What one frame's row of the .npy holds: (len(keypoints), 4 or 3)."""
    keypoints: Tuple[int, ...]  # COCO_WHOLEBODY_IDX
    visibility: bool  # ADD_VISIBLE

    @property
    def channels(self) -> int:
        return channels(self.visibility)


@dataclass(frozen=True)
class PersonRules:
    """Whose rows a frame with persons gives (MULTI_PERSON) and the thresholds the quality measures use."""
    multi_person: str  # MULTI_PERSON: 'skip', 'largest' or 'signer'
    bbox_thr: float  # BBOX_THR
    kpt_thr: float  # KPT_THR


@dataclass(frozen=True)
class Output:
    """Where and what the stage writes: output/, and data/tasks (what is done)."""
    folder: str  # NPY_DIR
    formats: Tuple[str, ...]  # OUTPUT_FORMATS
    rows: Rows


@dataclass(frozen=True)
class Engine:
    """What the engine (engine/) needs for one video's segments."""
    sampling: Sampling
    rows: Rows
    persons: PersonRules
    keep_keypoints: bool  # all 133 keypoints in pixels kept per frame (for a .pose file)
    queue_frames: int  # DECODE_QUEUE
    queue_mb: int  # DECODE_QUEUE_MB


@dataclass(frozen=True)
class ModelFiles:
    config: str
    checkpoint: str
    link: str  # where the checkpoint is downloaded from when it is missing


@dataclass(frozen=True)
class Models:
    """The networks' files and the detector's person class and threshold: nets/."""
    detector: ModelFiles
    pose: ModelFiles
    det_cat_id: int  # DET_CAT_ID
    bbox_thr: float  # BBOX_THR
    hand: Optional[ModelFiles] = None  # HAND_MODEL_*: the hand pass's model (docs/hands.md); None: no pass

    def files(self) -> List[Tuple[str, ModelFiles]]:
        """(setting prefix, files) of every configured model: DET, POSE and, with a hand model, HAND."""
        found = [('DET', self.detector), ('POSE', self.pose)]
        return found + ([('HAND', self.hand)] if self.hand is not None else [])


def first_device(device) -> str:
    """DEVICE, or the first of a DEVICE list."""
    return str(device[0]) if isinstance(device, (list, tuple)) else str(device)


@dataclass(frozen=True)
class Compute:
    """Where and how the networks run, as configured (``None``: decide for me); nets/devices.resolve
    turns it into what one worker runs with."""
    device: Union[str, Tuple[str, ...]]  # DEVICE
    cpu_threads: Optional[int]  # CPU_THREADS
    workers: int  # MAX_WORKERS
    det_batch_size: Optional[int]  # DET_BATCH_SIZE
    pose_batch_size: Optional[int]  # POSE_BATCH_SIZE
    host_threads: Optional[bool]  # HOST_THREADS
    precision: str  # PRECISION
    backend: str  # BACKEND
    runtime_cache: str  # RUNTIME_CACHE

    @property
    def first_device(self) -> str:
        return first_device(self.device)

    def replace(self, **changes) -> 'Compute':
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Execution:
    """How the work is spread: run/ (executors, shards, the crashed videos)."""
    executor: str  # EXECUTOR
    workers: int  # MAX_WORKERS
    ray_address: Optional[str]  # RAY_ADDRESS
    num_shards: int  # NUM_SHARDS
    shard_index: int  # SHARD_INDEX
    retry_crashed: bool  # RETRY_CRASHED


@dataclass(frozen=True)
class Options:
    """The settings narrowed per layer (see above), made once by ``Options.of``."""
    manifest: str  # CSV_FILE
    video_dir: str  # VIDEO_DIR
    sampling: Sampling
    engine: Engine
    output: Output
    models: Models
    compute: Compute
    execution: Execution

    @classmethod
    def of(cls, settings: 'Settings') -> 'Options':
        s = settings
        sampling = Sampling(s.REDUCE_FPS_TO, s.FRAME_SKIP, s.ACCEPT_VIDEO_FPS_WITHIN, s.MIN_SEGMENT_SECONDS,
                            s.MAX_SEGMENT_SECONDS, s.VIDEO_BACKEND)
        rows = Rows(tuple(s.COCO_WHOLEBODY_IDX), s.ADD_VISIBLE)
        persons = PersonRules(s.MULTI_PERSON, s.BBOX_THR, s.KPT_THR)
        return cls(
            manifest=s.CSV_FILE, video_dir=s.VIDEO_DIR, sampling=sampling,
            engine=Engine(sampling, rows, persons, 'pose' in s.OUTPUT_FORMATS, s.DECODE_QUEUE, s.DECODE_QUEUE_MB),
            output=Output(s.NPY_DIR, tuple(s.OUTPUT_FORMATS), rows),
            models=Models(ModelFiles(s.DET_MODEL_CONFIG, s.DET_MODEL_CHECKPOINT, s.DET_MODEL_CHECKPOINT_LINK),
                          ModelFiles(s.POSE_MODEL_CONFIG, s.POSE_MODEL_CHECKPOINT, s.POSE_MODEL_CHECKPOINT_LINK),
                          s.DET_CAT_ID, s.BBOX_THR,
                          ModelFiles(s.HAND_MODEL_CONFIG, s.HAND_MODEL_CHECKPOINT, s.HAND_MODEL_CHECKPOINT_LINK)
                          if s.HAND_MODEL_CONFIG else None),
            compute=Compute(s.DEVICE, s.CPU_THREADS, s.MAX_WORKERS, s.DET_BATCH_SIZE, s.POSE_BATCH_SIZE,
                            s.HOST_THREADS, s.PRECISION, s.BACKEND, s.RUNTIME_CACHE),
            execution=Execution(s.EXECUTOR, s.MAX_WORKERS, s.RAY_ADDRESS, s.NUM_SHARDS, s.SHARD_INDEX,
                                s.RETRY_CRASHED),
        )


FIELDS = {f.name: f.type for f in dataclasses.fields(Settings)}
# settings a constants module written before them may lack: their default keeps it working as it did
OPTIONAL = {'HAND_MODEL_CONFIG': None, 'HAND_MODEL_CHECKPOINT': '', 'HAND_MODEL_CHECKPOINT_LINK': ''}
_HINTS = typing.get_type_hints(Settings)


class SettingsError(ValueError):
    """The config module or an override cannot give settings (each problem one line)."""

    def __init__(self, problems: List[str]):
        super().__init__('\n'.join(problems))
        self.problems = problems


def _convert(name: str, value, hint):
    """``value`` as the field's type; raises ValueError/TypeError with a readable message."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Union:
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(name, value, option)
            except (TypeError, ValueError) as err:
                errors.append(str(err))
        raise TypeError(f'{name} = {value!r}: ' + ' or '.join(sorted(set(e.split(': ', 1)[-1] for e in errors))))
    if origin is tuple:
        if isinstance(value, str) and args == (str, Ellipsis):
            value = [value]  # OUTPUT_FORMATS=pose on the command line: one item
        if isinstance(value, (str, bytes)) or not hasattr(value, '__iter__'):
            raise TypeError(f'{name} = {value!r}: expected a list')
        items = list(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(name, item, args[0]) for item in items)
        if len(items) != len(args):
            raise TypeError(f'{name} = {value!r}: expected {len(args)} values')
        return tuple(_convert(name, item, arg) for item, arg in zip(items, args))
    if hint is bool:
        if isinstance(value, bool) or value in (0, 1):
            return bool(value)
        raise TypeError(f'{name} = {value!r}: expected True or False')
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f'{name} = {value!r}: expected a whole number')
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f'{name} = {value!r}: expected a number')
        return float(value)
    if hint is str:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # --cfg-options NPY_DIR=2024 reads as a number: a folder named 2024
        if not isinstance(value, str):
            raise TypeError(f'{name} = {value!r}: expected a string')
        return value
    raise TypeError(f'{name}: no conversion to {hint}')


def load_settings(config_file=DEFAULT_CONFIG, overrides=None) -> Settings:
    """Read the upper-case constants of a plain config module, apply overrides, type them.

    Unknown override names, constants missing from the module and values of the wrong type are
    all reported together (SettingsError, one line each): a typo must not be silently ignored.
    """
    spec = importlib.util.spec_from_file_location('stage_config', str(config_file))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    values = {**OPTIONAL, **{k: v for k, v in vars(module).items() if k.isupper()}}
    problems = [f'unknown setting {name} in --cfg-options: the settings are those of {config_file}'
                for name in sorted(set(overrides or {}) - set(values))]
    problems += [f'{name} is missing from {config_file}' for name in FIELDS if name not in values]
    if problems:
        raise SettingsError(problems)
    cfg = Config({k: v for k, v in values.items() if k in FIELDS})
    if overrides:
        cfg.merge_from_dict(dict(overrides))
    raw = cfg.to_dict()
    typed = {}
    for name in FIELDS:
        try:
            typed[name] = _convert(name, raw[name], _HINTS[name])
        except (TypeError, ValueError) as err:
            problems.append(str(err))
    if problems:
        raise SettingsError(problems)
    return Settings(**typed)


def value_problems(s: Settings) -> List[str]:
    """What is wrong with the values themselves (no files or packages looked at)."""
    problems = []
    low, high = s.ACCEPT_VIDEO_FPS_WITHIN
    checks = [
        (s.REDUCE_FPS_TO is None or s.REDUCE_FPS_TO > 0, f'REDUCE_FPS_TO must be above 0 or None, not {s.REDUCE_FPS_TO}'),
        (s.FRAME_SKIP >= 1, f'FRAME_SKIP must be at least 1, not {s.FRAME_SKIP}'),
        (0 < low <= high, f'ACCEPT_VIDEO_FPS_WITHIN must be (low, high) with 0 < low <= high, not {s.ACCEPT_VIDEO_FPS_WITHIN}'),
        (0 <= s.MIN_SEGMENT_SECONDS <= s.MAX_SEGMENT_SECONDS,
         f'MIN_SEGMENT_SECONDS ({s.MIN_SEGMENT_SECONDS}) must be between 0 and MAX_SEGMENT_SECONDS ({s.MAX_SEGMENT_SECONDS})'),
        (s.MAX_WORKERS >= 1, f'MAX_WORKERS must be at least 1, not {s.MAX_WORKERS}'),
        (s.CPU_THREADS is None or s.CPU_THREADS >= 1, f'CPU_THREADS must be at least 1 or None, not {s.CPU_THREADS}'),
        (s.EXECUTOR in EXECUTORS, f"EXECUTOR must be 'local', 'inline' or 'ray', not {s.EXECUTOR!r}"),
        (s.EXECUTOR != 'inline' or s.MAX_WORKERS == 1,
         f"EXECUTOR='inline' runs in the stage's own process: set MAX_WORKERS=1 (not {s.MAX_WORKERS}) "
         f"or EXECUTOR='local'"),
        (s.NUM_SHARDS >= 1, f'NUM_SHARDS must be at least 1, not {s.NUM_SHARDS}'),
        (s.NUM_SHARDS <= 1 or 0 <= s.SHARD_INDEX < s.NUM_SHARDS,
         f'SHARD_INDEX={s.SHARD_INDEX} is not in [0, NUM_SHARDS={s.NUM_SHARDS})'),
        (s.DET_BATCH_SIZE is None or s.DET_BATCH_SIZE >= 1, f'DET_BATCH_SIZE must be at least 1 or None, not {s.DET_BATCH_SIZE}'),
        (s.POSE_BATCH_SIZE is None or s.POSE_BATCH_SIZE >= 1, f'POSE_BATCH_SIZE must be at least 1 or None, not {s.POSE_BATCH_SIZE}'),
        (s.DECODE_QUEUE >= 1, f'DECODE_QUEUE must be at least 1, not {s.DECODE_QUEUE}'),
        (s.DECODE_QUEUE_MB >= 1, f'DECODE_QUEUE_MB must be at least 1, not {s.DECODE_QUEUE_MB}'),
        (s.MULTI_PERSON in MULTI_PERSON_MODES,
         f"MULTI_PERSON must be 'skip', 'largest' or 'signer', not {s.MULTI_PERSON!r}"),
        (s.PRECISION in PRECISIONS, f"PRECISION must be 'fp32', 'fp16' (CUDA) or 'bf16', not {s.PRECISION!r}"),
        (all(0 <= i < NUM_COCO_WHOLEBODY for i in s.COCO_WHOLEBODY_IDX) and s.COCO_WHOLEBODY_IDX,
         f'COCO_WHOLEBODY_IDX must list keypoints in [0, {NUM_COCO_WHOLEBODY})'),
        (bool(s.DEVICE), 'DEVICE must name a device (e.g. "cuda:0" or "cpu")'),
        (bool(s.OUTPUT_FORMATS) and set(s.OUTPUT_FORMATS) <= set(OUTPUT_FORMATS)
         and len(set(s.OUTPUT_FORMATS)) == len(s.OUTPUT_FORMATS),
         f"OUTPUT_FORMATS must be one or both of 'npy', 'pose', not {s.OUTPUT_FORMATS!r}"),
        (s.HAND_MODEL_CONFIG is None or bool(s.HAND_MODEL_CONFIG.strip()),
         'HAND_MODEL_CONFIG must name an mmpose hand config, or be None (no hand pass)'),
        (not s.HAND_MODEL_CONFIG or bool(s.HAND_MODEL_CHECKPOINT.strip()),
         'HAND_MODEL_CONFIG is set: HAND_MODEL_CHECKPOINT must name its checkpoint file'),
    ]
    problems += [message for ok, message in checks if not ok]
    return problems


def argument_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--config', default=str(DEFAULT_CONFIG),
                        help='the constants module (default: configs/extract_mmpose.py)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override settings for this run, e.g. CSV_FILE=/data/m.csv BBOX_THR=0.5')
    return parser


def settings_from_args(args) -> Settings:
    """The settings of a command line; a SettingsError stops with every problem and exit status 2."""
    try:
        return load_settings(args.config, args.cfg_options)
    except SettingsError as err:
        for problem in err.problems:
            print(f'ERROR: {problem}', file=sys.stderr)
        raise SystemExit(2) from None
