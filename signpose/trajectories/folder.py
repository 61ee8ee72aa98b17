"""A folder of the stage's files in, processed copies out: ``smooth_folder(IN_DIR, OUT_DIR)``.

Reads every ``*.npy`` (and ``*.pose``) directly in IN_DIR, never writes there (OUT_DIR equal to
IN_DIR is refused), and writes, each file atomically:
    OUT_DIR/{SENTENCE}.npy              the processed array, same shape and dtype (T, 85, C) float32
    OUT_DIR/filled/{SENTENCE}.npy       (T, 85) bool: True where a value was filled, not measured
    OUT_DIR/{SENTENCE}.pose             the processed .pose (all its points), when IN_DIR has one
    OUT_DIR/filled/{SENTENCE}.pose.npy  (T, points of the .pose) bool, likewise
    OUT_DIR/smoothing.json              the record, last: method and settings per part, the
                                        version, and per file what was done (RECORD_KEYS)
A file that is not a stage output (unreadable, wrong shape, not float32, NaN or infinite values)
is named in the record and on the console and skipped; the others are processed. A segment with
fewer frames than the method's window is copied unfiltered (and unfilled), and recorded so.
"""
import json
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from signpose.common.atomic import atomic_file
from signpose.engine.quality import segment_quality
from signpose.output.files import load_array, save_npy_atomic
from signpose.trajectories.parts import STAGE_COCO_IDX
from signpose.trajectories.smoothing import DEFAULT_SCORE_FLOOR, Smoothing, process_array

RECORD_NAME = 'smoothing.json'
FILLED_DIR = 'filled'
RECORD_VERSION = 1  # of the record's layout and of the processing it describes
PROCESSED, COPIED, BAD = 'processed', 'copied unfiltered', 'bad'
# every key of a file's entry in the record, in this order (None where it does not apply)
RECORD_KEYS = ('file', 'status', 'reason', 'frames', 'points_filled', 'gaps_filled', 'gaps_left',
               'points_left_missing', 'fps', 'quality_before', 'quality_after')
FILLED_RULE = ('filled/{SENTENCE}.npy (T, 85) bool is True where a value was filled by interpolation; '
               'a filled point\'s visibility is filled_visibility x the lower visibility of the two '
               'measured frames around its gap')


class FolderError(ValueError):
    """A usage problem (IN_DIR missing, OUT_DIR equal to IN_DIR): nothing was done."""


def array_problem(array: np.ndarray, points: int = len(STAGE_COCO_IDX)) -> Optional[str]:
    """Why ``array`` is not a stage output (one line), or None."""
    if array.ndim != 3 or array.shape[0] < 1 or array.shape[1] != points or array.shape[2] not in (3, 4):
        return f'shape {array.shape}, not (T >= 1, {points}, 4 or 3)'
    if array.dtype != np.float32:
        return f'dtype {array.dtype}, not float32'
    if not np.isfinite(array).all():
        return f'{int((~np.isfinite(array)).sum())} NaN or infinite values'
    return None


def package_version() -> Optional[str]:
    try:
        from importlib.metadata import version
        return version('signpose')
    except Exception:  # not installed as a package (a source checkout on PYTHONPATH)
        return None


def entry(file: str, status: str, reason: Optional[str] = None, **values) -> dict:
    record = dict.fromkeys(RECORD_KEYS)
    record.update(file=file, status=status, reason=reason, **values)
    return record


def check_folders(in_dir, out_dir):
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if not in_dir.is_dir():
        raise FolderError(f'input folder {in_dir} does not exist or is not a folder')
    if in_dir.resolve() == out_dir.resolve() or (out_dir.exists() and out_dir.samefile(in_dir)):
        raise FolderError(f'output folder {out_dir} is the input folder: the stage\'s files are never '
                          'changed in place; give another OUT_DIR')
    if out_dir.exists() and not out_dir.is_dir():
        raise FolderError(f'output folder {out_dir} exists and is not a folder')
    return in_dir, out_dir


def smooth_npy(path: Path, out_dir: Path, smoothing: Smoothing) -> dict:
    """One .npy: processed (or copied when short) into OUT_DIR with its filled mask; its entry."""
    try:
        array = load_array(path)
    except ValueError as err:
        return entry(path.name, BAD, str(err))
    problem = array_problem(array)
    if problem:
        return entry(path.name, BAD, f'not a stage output: {problem}')
    result = process_array(array, smoothing)
    save_npy_atomic(out_dir / FILLED_DIR / f'{path.stem}.npy', result.filled)
    save_npy_atomic(out_dir / path.name, result.array)
    status = COPIED if result.short else PROCESSED
    reason = f'{len(array)} frames, fewer than the window of {smoothing.min_frames()}' if result.short else None
    return entry(path.name, status, reason, frames=int(len(array)), fps=smoothing.fps, **result.counts(smoothing.max_gap),
                 quality_before=segment_quality(array, STAGE_COCO_IDX, DEFAULT_SCORE_FLOOR),
                 quality_after=segment_quality(result.array, STAGE_COCO_IDX, DEFAULT_SCORE_FLOOR))


def smooth_pose(path: Path, out_dir: Path, smoothing: Smoothing) -> dict:
    """One .pose: its points (all of them) processed as the .npy's, in x / width, y / height, and
    written back in pixels (not clipped, as the stage's .pose); its entry."""
    try:
        import numpy.ma as ma
        from pose_format import Pose  # optional dependency: pose-format
        from pose_format.numpy import NumPyPoseBody  # optional dependency: pose-format
        from signpose.output import pose_file  # optional dependency: pose-format
    except ImportError as err:
        return entry(path.name, BAD, f'pose-format is not installed ({err}); .pose files need it')
    try:
        pose = pose_file.read_pose(path)
        data = np.asarray(ma.getdata(pose.body.data), dtype=np.float32)
        confidence = np.asarray(pose.body.confidence, dtype=np.float32)
        if data.ndim != 4 or data.shape[1] != 1 or data.shape[3] != 3:
            raise ValueError(f'body data has shape {data.shape}, not (T, 1 person, points, 3)')
        names = pose_file.coco_point_names()
        points = [(c.name, p) for c in pose.header.components for p in c.points]
        coco_idx = [names.index(point) for point in points]
        width, height = pose.header.dimensions.width, pose.header.dimensions.height
        fps = float(pose.body.fps)
        if width <= 0 or height <= 0 or not fps > 0:
            raise ValueError(f'frame size {width} x {height}, fps {fps}')
    except Exception as err:
        return entry(path.name, BAD, f'not a stage .pose: {type(err).__name__}: {err}'[:300])
    array = np.concatenate([data[:, 0], confidence[:, 0, :, None]], axis=-1)
    array[..., 0] /= np.float32(width)
    array[..., 1] /= np.float32(height)
    array[confidence[:, 0] <= 0] = 0  # masked points: missing (pose-format hides them)
    problem = array_problem(array, len(points))
    if problem:
        return entry(path.name, BAD, f'not a stage .pose: {problem}')
    local = Smoothing(**{**smoothing.__dict__, 'fps': fps})
    result = process_array(array, local, coco_idx, clip=False)
    out = result.array
    new_data = np.stack([out[..., 0] * np.float32(width), out[..., 1] * np.float32(height), out[..., 2]], axis=-1)
    new_confidence = np.clip(out[..., 3], 0, 1)
    new_data = new_data[:, None].astype(np.float32)
    new_confidence = new_confidence[:, None].astype(np.float32)
    mask = np.repeat((new_confidence == 0)[..., None], 3, axis=-1)
    new_pose = Pose(pose.header, NumPyPoseBody(fps=fps, data=ma.masked_array(new_data, mask=mask),
                                               confidence=new_confidence))
    save_npy_atomic(out_dir / FILLED_DIR / f'{path.name}.npy', result.filled)
    pose_file.write_pose_atomic(out_dir / path.name, new_pose)
    status = COPIED if result.short else PROCESSED
    reason = f'{len(array)} frames, fewer than the window of {local.min_frames()}' if result.short else None
    return entry(path.name, status, reason, frames=int(len(array)), fps=fps, **result.counts(local.max_gap))


def smooth_folder(in_dir, out_dir, smoothing: Optional[Smoothing] = None, log: Optional[Callable[[str], None]] = None,
                  **options) -> dict:
    """Process every stage file of IN_DIR into OUT_DIR (the module docstring); the record, as
    written to OUT_DIR/smoothing.json. ``smoothing`` or ``options`` (Smoothing's fields: method,
    max_gap, score_floor, fill, filled_visibility, weighted, fps, parts); ``log`` gets one line
    per file. FolderError for a usage problem, ValueError for bad settings (nothing written)."""
    smoothing = smoothing or Smoothing(**options)
    smoothing.check()
    in_dir, out_dir = check_folders(in_dir, out_dir)
    (out_dir / FILLED_DIR).mkdir(parents=True, exist_ok=True)
    started = time.time()
    files = sorted(p for p in in_dir.iterdir() if p.suffix in ('.npy', '.pose') and p.is_file())
    entries = []
    for path in files:
        done = smooth_npy(path, out_dir, smoothing) if path.suffix == '.npy' else smooth_pose(path, out_dir, smoothing)
        entries.append(done)
        if log:
            log(f"{path.name}: {done['status']}" + (f" ({done['reason']})" if done['reason'] else '')
                + (f", {done['points_filled']} points filled, {done['gaps_left']} gaps left"
                   if done['status'] != BAD else ''))
    counts = {status: sum(e['status'] == status for e in entries) for status in (PROCESSED, COPIED, BAD)}
    record = dict(
        tool='signpose-smooth', record_version=RECORD_VERSION, package_version=package_version(),
        created=time.strftime('%Y-%m-%dT%H:%M:%S%z', time.localtime(started)), seconds=round(time.time() - started, 3),
        input=str(in_dir.resolve()), output=str(out_dir.resolve()), settings=smoothing.record(), filled=FILLED_RULE,
        summary=dict(files=len(entries), **counts,
                     points_filled=sum(e['points_filled'] or 0 for e in entries),
                     gaps_filled=sum(e['gaps_filled'] or 0 for e in entries),
                     gaps_left=sum(e['gaps_left'] or 0 for e in entries),
                     bad_files=[e['file'] for e in entries if e['status'] == BAD]),
        files=entries)
    with atomic_file(out_dir / RECORD_NAME) as f:
        f.write((json.dumps(record, indent=1) + '\n').encode())
    return record
