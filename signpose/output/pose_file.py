"""The stage's landmarks as ``.pose`` files (the ``pose-format`` library, 0.15), beside the ``.npy``.

A ``.pose`` file holds a header (named components with their points and limbs, the frame size)
and a body: ``data`` (frames, people, points, dims) float32 as a numpy masked array, ``confidence``
(frames, people, points) and the frame rate. The header here is pose-format's own COCO-WholeBody
133 (components BODY 23, FACE 68, LEFT_HAND 21, RIGHT_HAND 21 points, in COCO-WholeBody's order),
with the point format ``XYZC`` instead of the library's ``XYC``: RTMW3D gives a z.

What the file holds, point by point, and how it relates to the stage's ``.npy`` row
(``signpose.engine.landmarks.pose_row``):

    .pose                                   .npy (T, 85, 4)
    x, y   image pixels, as the model gives  clip(x / width, 0, 1), clip(y / height, 0, 1)
    z      RTMW3D's root-relative depth      the same z, unchanged
    C      score clipped to [0, 1]           visibility: the same number

``z`` is the depth RTMW3D decodes, relative to the root (the mid-hip), in metres, negative in
front of the hips; it is not scaled to pixels. The header's ``depth`` says so (see
``Z_EXTENT_METRES``). Frames without a person are fully masked with confidence 0 (their stored
values are zeros, hidden by the mask), not points at the origin. pose-format marks a point as
missing exactly where its confidence is 0 (that is how it rebuilds the mask when it reads a file),
so a point whose score is 0 or less is masked too; its x, y, z are still stored.

A file written from the model's full output has all 133 points (``wholebody_pose``); a file
converted from an existing ``.npy`` holds only that file's 85 points (``pose_from_npy``), in the
same components, and is read back the same way (``npy_rows_from_pose`` finds points by name).

pose-format's tools take x, y, z as one space: ``Pose.normalize`` (shoulder width 1, with
``pose_format.utils.generic.pose_normalization_info``) divides z in metres by the shoulder width in
pixels too, so z comes out near 0; scale z apart if it matters.
"""
import io
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import numpy.ma as ma
from pose_format import Pose
from pose_format.numpy import NumPyPoseBody
from pose_format.pose_header import VERSION, PoseHeader, PoseHeaderComponent, PoseHeaderDimensions
from pose_format.utils.cocowholebody133_header import cocowholebody_components

from signpose.common.atomic import atomic_file
from signpose.contract.rows import NUM_COCO_WHOLEBODY, pose_row  # the .npy's own arithmetic, to read the .npy back
from signpose.output.files import load_array

POINT_FORMAT = 'XYZC'
# The header's depth: the extent of RTMW3D's z axis in metres, rounded up to the whole number that
# PoseHeaderDimensions stores (an unsigned 16-bit integer, as width and height). RTMW3D decodes z
# into [-z_range, z_range] around the root with z_range = 2.1744869 m (signpose/nets/rtmw3d/codec.py),
# 4.35 m in all. Width and height are the frame in pixels, the units of x and y; a depth of 5 beside
# them says that z is in metres (its whole axis is 5 of them), not in pixels. pose-format itself
# does not read the value (its visualiser and normalisation use x, y, z as they are).
Z_EXTENT_METRES = 5


def coco_point_names() -> List[Tuple[str, str]]:
    """(component, point) of each of the 133 COCO-WholeBody points, by COCO-WholeBody index."""
    return [(c.name, p) for c in cocowholebody_components() for p in c.points]


def wholebody_header(width: int, height: int, depth: int = Z_EXTENT_METRES,
                     points: Optional[Sequence[int]] = None) -> PoseHeader:
    """pose-format's COCO-WholeBody header with ``XYZC`` points, for frames of width x height pixels.

    ``depth`` (default ``Z_EXTENT_METRES``) is the extent of z in metres (see the module's notes).
    ``points``: None for all 133 points; else COCO-WholeBody indices (e.g. the stage's 85
    ``COCO_WHOLEBODY_IDX``): each component keeps those of its points in the order given, with the
    limbs whose two ends are both kept, and components without a kept point are left out. The
    header's points are then in the order of ``points`` (the order of the ``.npy``'s rows), which
    needs each component's indices to be given together (as in any ascending list).
    """
    if not (0 < int(width) <= 0xffff and 0 < int(height) <= 0xffff and 0 <= int(depth) <= 0xffff):
        raise ValueError(f'frame size {width} x {height} (depth {depth}) is not what a .pose header '
                         'can hold (1 to 65535 pixels; depth 0 to 65535)')
    library = cocowholebody_components()
    if points is None:
        chosen = [(c, list(range(len(c.points)))) for c in library]
    else:
        chosen = _chosen_points(library, points)
    components = []
    for component, kept in chosen:
        new_index = {old: new for new, old in enumerate(kept)}
        limbs = [(new_index[a], new_index[b]) for a, b in component.limbs if a in new_index and b in new_index]
        components.append(PoseHeaderComponent(
            name=component.name, points=[component.points[i] for i in kept], limbs=limbs,
            colors=[tuple(color) for color in component.colors], point_format=POINT_FORMAT))
    return PoseHeader(version=VERSION, dimensions=PoseHeaderDimensions(int(width), int(height), int(depth)),
                      components=components)


def _chosen_points(library: List[PoseHeaderComponent], points: Sequence[int]):
    """[(library component, [its point positions])] for COCO-WholeBody indices ``points``."""
    indices = [int(i) for i in points]
    if not indices:
        raise ValueError('points is empty: give COCO-WholeBody indices (0 to 132), or None for all')
    if len(set(indices)) != len(indices):
        raise ValueError('points has repeated indices')
    bad = [i for i in indices if not 0 <= i < NUM_COCO_WHOLEBODY]
    if bad:
        raise ValueError(f'points {bad[:5]} are not COCO-WholeBody indices (0 to 132)')
    starts = np.cumsum([0] + [len(c.points) for c in library])
    owner = [int(np.searchsorted(starts, i, side='right')) - 1 for i in indices]
    chosen, order = {}, []
    for i, c in zip(indices, owner):
        if c not in chosen:
            chosen[c] = []
            order.append(c)
        elif order[-1] != c:
            raise ValueError(f'points of {library[c].name} are not together in points: the header '
                             'cannot keep that order (a component holds its points in one run)')
        chosen[c].append(i - int(starts[c]))
    return [(library[c], chosen[c]) for c in order]


def wholebody_pose(xy: np.ndarray, z: np.ndarray, scores: np.ndarray, present: np.ndarray,
                   width: int, height: int, fps: float) -> Pose:
    """A segment's 133-point landmarks as a pose-format ``Pose`` (one person).

    xy (T, 133, 2) image pixels; z (T, 133) RTMW3D's root-relative depth (metres); scores
    (T, 133) as the model gives them (they can exceed 1); present (T,) bool, False where the frame
    has no person (its xy, z, scores are ignored); width, height the frame in pixels; fps the rate
    the frames were sampled at.

    The body: data (T, 1, 133, 3) float32 masked array (x, y, z as given); confidence (T, 1, 133)
    = scores clipped to [0, 1], exactly the ``.npy``'s visibility. Frames without a person hold
    zeros with confidence 0, fully masked; elsewhere points with confidence 0 are masked, as
    pose-format masks them when it reads the file.
    """
    xy = np.asarray(xy, dtype=np.float32)
    z = np.asarray(z, dtype=np.float32)
    scores = np.asarray(scores, dtype=np.float32)
    present = np.asarray(present, dtype=bool)
    frames = present.shape[0] if present.ndim == 1 else -1
    if frames < 0 or xy.shape != (frames, NUM_COCO_WHOLEBODY, 2) or z.shape != (frames, NUM_COCO_WHOLEBODY) \
            or scores.shape != (frames, NUM_COCO_WHOLEBODY):
        raise ValueError(f'expected xy (T, 133, 2), z (T, 133), scores (T, 133), present (T,); got '
                         f'{xy.shape}, {z.shape}, {scores.shape}, {present.shape}')
    data = np.concatenate([xy, z[..., None]], axis=-1)
    data[~present] = 0
    confidence = np.clip(scores, 0.0, 1.0)
    confidence[~present] = 0
    return _pose(wholebody_header(width, height), data, confidence, fps)


def _pose(header: PoseHeader, data: np.ndarray, confidence: np.ndarray, fps: float) -> Pose:
    """One person's (T, N, 3) data and (T, N) confidence as a Pose, masked where confidence is 0."""
    fps = float(fps)
    if not np.isfinite(fps) or fps <= 0:
        raise ValueError(f'fps must be a positive number, not {fps}')
    data = np.ascontiguousarray(data[:, None], dtype=np.float32)
    confidence = np.ascontiguousarray(confidence[:, None], dtype=np.float32)
    mask = np.repeat((confidence == 0)[..., None], data.shape[-1], axis=-1)
    return Pose(header, NumPyPoseBody(fps=fps, data=ma.masked_array(data, mask=mask), confidence=confidence))


def pose_bytes(pose: Pose) -> bytes:
    """The ``.pose`` file's bytes."""
    buffer = io.BytesIO()
    pose.write(buffer)
    return buffer.getvalue()


def write_pose_atomic(path, pose: Pose) -> None:
    """Write ``pose`` to ``path``: serialised in memory first, then a temporary file beside ``path``,
    fsync and rename, so ``path`` is either absent, the old file, or the whole new one."""
    data = pose_bytes(pose)
    with atomic_file(path) as f:
        f.write(data)


def read_pose(path) -> Pose:
    """Read a ``.pose`` file with pose-format."""
    with open(path, 'rb') as f:
        return Pose.read(f.read())


def _positions(pose: Pose, keypoint_idx: Sequence[int]) -> np.ndarray:
    """Where each COCO-WholeBody index of ``keypoint_idx`` is among the pose's points (by name)."""
    names = coco_point_names()
    at: Dict[Tuple[str, str], int] = {}
    offset = 0
    for c in pose.header.components:
        for i, p in enumerate(c.points):
            at[(c.name, p)] = offset + i
        offset += len(c.points)
    positions = []
    for i in keypoint_idx:
        i = int(i)
        if not 0 <= i < NUM_COCO_WHOLEBODY:
            raise ValueError(f'{i} is not a COCO-WholeBody index (0 to 132)')
        if names[i] not in at:
            raise ValueError(f'the .pose file has no point {names[i][0]} {names[i][1]} (COCO-WholeBody {i})')
        positions.append(at[names[i]])
    return np.asarray(positions, dtype=np.intp)


def frames_without_person(pose: Pose) -> np.ndarray:
    """(T,) bool: frames whose points of the first person are all masked (confidence 0)."""
    mask = ma.getmaskarray(pose.body.data)[:, 0]
    return mask.reshape(mask.shape[0], -1).all(axis=1)


def npy_rows_from_pose(pose: Pose, keypoint_idx: Sequence[int], add_visible: bool = True) -> np.ndarray:
    """The stage's ``.npy`` array recomputed from a ``.pose``: (T, len(keypoint_idx), 4 or 3) float32.

    ``keypoint_idx``: COCO-WholeBody indices (the stage's ``COCO_WHOLEBODY_IDX``), found by name,
    so a 133-point file and a converted 85-point file both work. Per point, as
    ``signpose.engine.landmarks.pose_row``: x = clip(x / width, 0, 1) and y = clip(y / height, 0, 1) in
    float32, z unchanged, visibility = confidence. Frames without a person (all points masked) are
    zeros. Points masked alone (confidence 0) keep their stored x, y, z, as the ``.npy`` does.
    Equal bit for bit to ``pose_row`` on the same float32 pixels; from float64 pixels (RTMW3D's
    estimator gives those), which ``pose_row`` divides in float64 and the file stores as float32,
    x and y can differ by one float32 unit in the last place.
    """
    data = np.asarray(ma.getdata(pose.body.data)[:, 0], dtype=np.float32)
    confidence = np.asarray(pose.body.confidence[:, 0], dtype=np.float32)
    rows = pose_row(data[..., :2], data[..., 2], confidence, pose.header.dimensions.width,
                    pose.header.dimensions.height, _positions(pose, keypoint_idx), add_visible)
    rows[frames_without_person(pose)] = 0
    return rows


def array_problem(array: np.ndarray, points: int) -> Optional[str]:
    """Why ``array`` is not a stage .npy of ``points`` keypoints that converts (one line), or None."""
    if array.ndim != 3 or array.shape[1] != points or array.shape[2] not in (3, 4):
        return f'array has shape {array.shape}, not (T, {points}, 4 or 3)'
    if not np.issubdtype(array.dtype, np.floating):
        return f'array is {array.dtype}, not floating point'
    if not np.isfinite(array).all():
        return 'array holds NaN or infinite values'
    return None


def pose_from_npy(array: np.ndarray, keypoint_idx: Sequence[int], width: int, height: int, fps: float) -> Pose:
    """A ``.pose`` from a stage ``.npy`` array (T, 85, 4 or 3): the converter for earlier outputs.

    The header holds only the array's points (``wholebody_header(points=keypoint_idx)``). x, y go
    back to pixels (x * width, y * height; points the stage clipped stay on the frame's edge), z is
    kept, confidence = visibility (for a 3-column array: 1, as nothing else is known). Frames whose
    row is all zeros (no person) are fully masked with confidence 0.
    """
    array = np.asarray(array)
    idx = [int(i) for i in keypoint_idx]
    problem = array_problem(array, len(idx))
    if problem:
        raise ValueError(problem)
    array = array.astype(np.float32, copy=False)
    header = wholebody_header(width, height, points=idx)
    empty = ~array.reshape(array.shape[0], -1).any(axis=1)
    data = np.stack([array[..., 0] * np.float32(width), array[..., 1] * np.float32(height), array[..., 2]], axis=-1)
    if array.shape[2] == 4:
        confidence = array[..., 3].copy()
    else:
        confidence = np.ones(array.shape[:2], dtype=np.float32)
    data[empty] = 0
    confidence[empty] = 0
    return _pose(header, data, confidence, fps)


def _close(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Equal within float32 rounding: a few units in the last place of float32."""
    return np.abs(a - b) <= 4 * np.spacing(np.maximum(np.abs(a), np.abs(b)).astype(np.float32))


def _frames(flags: np.ndarray, limit: int = 5) -> str:
    where = np.flatnonzero(flags)
    text = ', '.join(map(str, where[:limit].tolist()))
    return text + (f' (+{len(where) - limit} more)' if len(where) > limit else '')


def check_pose_file(pose_path, npy, keypoint_idx: Sequence[int]) -> List[str]:
    """Problems of a ``.pose`` next to its ``.npy`` (its path, or the array already loaded), one line
    each (an empty list: it is fine).

    Checks: pose-format reads it; its header is the COCO-WholeBody one with ``XYZC`` points, all
    133 points or exactly the ``.npy``'s (a converted file); one person; the frame count is the
    ``.npy``'s; frames are masked exactly where the ``.npy``'s row is all zeros; confidence is in
    [0, 1]; elsewhere the ``.npy`` recomputed from it (``npy_rows_from_pose``) equals the ``.npy``
    within float32 rounding.
    """
    idx = [int(i) for i in keypoint_idx]
    label = 'the .npy' if isinstance(npy, np.ndarray) else str(npy)
    if not isinstance(npy, np.ndarray):
        try:
            npy = load_array(npy)
        except ValueError as err:
            return [f'{label}: {err}']
    if npy.ndim != 3 or npy.shape[1] != len(idx) or npy.shape[2] not in (3, 4):
        return [f'{label}: not a (T, {len(idx)}, 4 or 3) array']
    try:
        pose = read_pose(pose_path)
    except Exception as err:
        return [f'cannot be read by pose-format: {type(err).__name__}: {err}'[:300]]

    problems = []
    points = pose.header.total_points()
    expected = wholebody_header(1, 1) if points == NUM_COCO_WHOLEBODY else \
        wholebody_header(1, 1, points=idx) if points == len(idx) else None
    if expected is None:
        problems.append(f'header has {points} points, expected {NUM_COCO_WHOLEBODY} or {len(idx)}')
    else:
        got = [(c.name, list(c.points), [tuple(map(int, l)) for l in c.limbs]) for c in pose.header.components]
        want = [(c.name, c.points, c.limbs) for c in expected.components]
        if got != want:
            problems.append(f'header components {[c.name for c in pose.header.components]} with their points and '
                            f'limbs are not the COCO-WholeBody ones expected for {points} points')
    formats = sorted({c.format for c in pose.header.components})
    if formats != [POINT_FORMAT]:
        problems.append(f'point format {"/".join(formats)}, expected {POINT_FORMAT}')
    dims = pose.header.dimensions
    if dims.width <= 0 or dims.height <= 0:
        problems.append(f'frame size {dims.width} x {dims.height} in the header')
    if not pose.body.fps > 0:
        problems.append(f'fps {pose.body.fps} is not positive')
    shape = pose.body.data.shape
    if len(shape) != 4 or shape[1] != 1 or shape[3] != 3:
        problems.append(f'body data has shape {shape}, expected (T, 1 person, points, 3)')
    if shape[0] != npy.shape[0]:
        problems.append(f'{shape[0]} frames, the .npy has {npy.shape[0]}')
    if problems:
        return problems

    confidence = np.asarray(pose.body.confidence, dtype=np.float32)
    outside = ~((confidence >= 0) & (confidence <= 1))
    if outside.any():
        problems.append(f'{int(outside.sum())} confidence values outside [0, 1]: frames '
                        f'{_frames(outside.any(axis=(1, 2)))}')
    masked = frames_without_person(pose)
    empty = ~npy.reshape(npy.shape[0], -1).any(axis=1)
    if (masked & ~empty).any():
        problems.append(f'masked (no person) where the .npy has a person: frames {_frames(masked & ~empty)}')
    if (empty & ~masked).any():
        problems.append(f'not masked where the .npy row is all zeros (no person): frames {_frames(empty & ~masked)}')
    try:
        rows = npy_rows_from_pose(pose, idx, add_visible=npy.shape[2] == 4)
    except ValueError as err:
        return problems + [str(err)]
    both = ~masked & ~empty  # frames with a person in both files
    finite = np.isfinite(ma.getdata(pose.body.data)).all(axis=(1, 2, 3))
    if (both & ~finite).any():
        problems.append(f'NaN or infinite values in frames {_frames(both & ~finite)}')
    differ = np.zeros(rows.shape, dtype=bool)
    differ[both] = ~_close(rows[both], npy[both].astype(np.float32))
    if differ.any():
        frame, point, channel = map(int, np.argwhere(differ)[0])
        problems.append(f'{int(differ.sum())} values differ from the .npy beyond float32 rounding in frames '
                        f'{_frames(differ.any(axis=(1, 2)))}; first: point {point} {"xyzv"[channel]} '
                        f'{float(rows[frame, point, channel])!r} in the .pose, '
                        f'{float(npy[frame, point, channel])!r} in the .npy')
    return problems
