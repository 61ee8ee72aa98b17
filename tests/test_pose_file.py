""".pose files (pose-format 0.15) of the stage's landmarks, with the real library: header, round
trip, the .npy recomputed bit for bit, the converter, pose-format's own tools, the file check."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import numpy.ma as ma
import pytest
from conftest import ROOT, write_video
from pose_format import Pose
from pose_format.pose_visualizer import PoseVisualizer
from pose_format.utils.cocowholebody133_header import cocowholebody_components
from pose_format.utils.fast_math import distance_batch
from pose_format.utils.generic import detect_known_pose_format, pose_normalization_info

from signpose.config import load_settings
from signpose.contract.rows import empty_row, pose_row
from signpose.output import pose_file
from signpose.output.pose_file import check_pose_file, npy_rows_from_pose, pose_from_npy, read_pose, wholebody_header, \
    wholebody_pose, write_pose_atomic

IDX = load_settings().COCO_WHOLEBODY_IDX  # the stage's 85 points
W, H, FPS = 320, 240, 24.0
SCRIPT = ROOT / 'scripts' / '3b_npy_to_pose.py'


def model_output(frames=8, seed=0, absent=(1, 5)):
    """RTMW3D-like output: pixels partly outside the frame, z in metres, scores in (-0.5, 4)."""
    rng = np.random.default_rng(seed)
    xy = (rng.uniform(-0.3, 1.3, (frames, 133, 2)) * [W, H]).astype(np.float32)
    z = rng.normal(0.0, 0.6, (frames, 133)).astype(np.float32)
    scores = rng.uniform(-0.5, 4.0, (frames, 133)).astype(np.float32)
    present = np.ones(frames, dtype=bool)
    present[list(absent)] = False
    return xy, z, scores, present


def header_of(pose):
    """A header's content, comparable (a header read back holds numpy colours and limbs)."""
    dims = pose.header.dimensions
    components = [(c.name, c.format, list(c.points), [tuple(map(int, limb)) for limb in c.limbs],
                   np.asarray(c.colors).tolist()) for c in pose.header.components]
    return dims.width, dims.height, dims.depth, components


def stage_npy(xy, z, scores, present, idx=IDX, add_visible=True):
    """The .npy the stage writes for that output (signpose.engine.landmarks)."""
    return np.stack([pose_row(xy[t], z[t], scores[t], W, H, idx, add_visible) if present[t]
                     else empty_row(len(idx), add_visible) for t in range(len(present))])


@pytest.fixture
def written(tmp_path):
    """A 133-point .pose file and the stage's .npy for the same output."""
    out = model_output()
    pose_path, npy_path = tmp_path / 's.pose', tmp_path / 's.npy'
    write_pose_atomic(pose_path, wholebody_pose(*out, W, H, FPS))
    np.save(npy_path, stage_npy(*out))
    return pose_path, npy_path, out


def test_header_is_pose_formats_coco_wholebody_with_xyzc():
    header = wholebody_header(W, H)
    library = cocowholebody_components()
    assert header.total_points() == 133 and header.num_dims() == 3
    assert [c.name for c in header.components] == ['BODY', 'FACE', 'LEFT_HAND', 'RIGHT_HAND']
    for ours, theirs in zip(header.components, library):
        assert ours.format == 'XYZC' and theirs.format == 'XYC'
        assert ours.points == theirs.points and ours.limbs == theirs.limbs
    assert (header.dimensions.width, header.dimensions.height) == (W, H)
    # depth: the extent of RTMW3D's z axis in metres, rounded up (z_range from the model's codec)
    z_range = float(re.search(r'^Z_RANGE = ([0-9.]+)', (ROOT / 'signpose/nets/rtmw3d/codec.py').read_text(), re.M)[1])
    assert header.dimensions.depth == pose_file.Z_EXTENT_METRES == int(np.ceil(2 * z_range)) == 5
    assert detect_known_pose_format(header) == 'coco_wholebody_133'


def test_header_of_the_85_points_keeps_their_order_and_the_limbs_between_them():
    header = wholebody_header(W, H, points=IDX)
    assert header.total_points() == 85 and {c.format for c in header.components} == {'XYZC'}
    names = pose_file.coco_point_names()
    assert [(c.name, p) for c in header.components for p in c.points] == [names[i] for i in IDX]
    library = {c.name: c for c in cocowholebody_components()}
    for c in header.components:
        full = library[c.name]
        kept = [full.points.index(p) for p in c.points]
        want = [(kept.index(a), kept.index(b)) for a, b in full.limbs if a in kept and b in kept]
        assert c.limbs == want
    body = header.components[0]
    assert body.points == ['left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow', 'left_hip', 'right_hip']
    assert (0, 1) in body.limbs and (0, 2) in body.limbs  # shoulders, left upper arm
    with pytest.raises(ValueError, match='not together'):
        wholebody_header(W, H, points=[5, 100, 6])
    with pytest.raises(ValueError, match='COCO-WholeBody'):
        wholebody_header(W, H, points=[5, 133])


def test_round_trip_through_a_file_keeps_data_masks_and_confidence(written):
    pose_path, _, (xy, z, scores, present) = written
    made = wholebody_pose(xy, z, scores, present, W, H, FPS)
    read = read_pose(pose_path)
    assert read.body.data.shape == (8, 1, 133, 3) and read.body.data.dtype == np.float32
    assert ma.getdata(read.body.data).tobytes() == ma.getdata(made.body.data).tobytes()
    assert np.array_equal(ma.getmaskarray(read.body.data), ma.getmaskarray(made.body.data))
    assert np.asarray(read.body.confidence).tobytes() == np.asarray(made.body.confidence).tobytes()
    assert read.body.fps == FPS
    assert header_of(read) == header_of(made)  # (the version comes back as float32: 0.2 -> 0.2000000029...)
    assert pose_path.read_bytes() == pose_file.pose_bytes(made)
    # frames without a person: fully masked, confidence 0; the others: x, y, z as the model gave them
    mask = ma.getmaskarray(read.body.data)
    assert mask[~present].all() and (read.body.confidence[~present] == 0).all()
    assert np.array_equal(ma.getdata(read.body.data)[present, 0], np.concatenate([xy, z[..., None]], -1)[present])
    # confidence is the score clipped to [0, 1]; a point scoring <= 0 is masked, its values kept
    assert np.array_equal(read.body.confidence[present, 0], np.clip(scores, 0, 1)[present])
    assert np.array_equal(mask[present, 0, :, 0], scores[present] <= 0)
    assert (scores > 1).any() and (scores <= 0).any() and not mask[present].all(axis=(1, 2, 3)).any()


@pytest.mark.parametrize('add_visible', [True, False])
def test_npy_rows_from_pose_equal_pose_rows_exactly(written, add_visible):
    pose_path, _, out = written
    rows = npy_rows_from_pose(read_pose(pose_path), IDX, add_visible)
    want = stage_npy(*out, add_visible=add_visible)
    assert rows.dtype == np.float32 and rows.shape == want.shape
    assert rows.tobytes() == want.tobytes()
    assert (rows[~out[3]] == 0).all()
    xy = out[0][:, IDX]
    assert ((xy < 0) | (xy > [W, H])).any()  # clipping was exercised
    every = npy_rows_from_pose(read_pose(pose_path), range(133))
    assert every.tobytes() == stage_npy(*out, idx=list(range(133))).tobytes()


def test_float64_pixels_differ_from_the_npy_by_float32_rounding_only(tmp_path):
    """RTMW3D's estimator gives image pixels in float64: pose_row divides them in float64, the
    .pose stores them as float32. Recomputed from the .pose, x and y are then within 1 ulp."""
    xy, z, scores, present = model_output(frames=40, seed=3)
    xy = xy.astype(np.float64) + np.random.default_rng(3).uniform(0, 1e-3, xy.shape)
    npy = stage_npy(xy, z, scores, present)
    write_pose_atomic(tmp_path / 'f.pose', wholebody_pose(xy, z, scores, present, W, H, FPS))
    rows = npy_rows_from_pose(read_pose(tmp_path / 'f.pose'), IDX)
    assert (rows != npy).any() and np.array_equal(rows[..., 2:], npy[..., 2:])
    assert (np.abs(rows - npy) <= np.spacing(np.abs(npy))).all()
    assert check_pose_file(tmp_path / 'f.pose', _save(tmp_path / 'f.npy', npy), IDX) == []


@pytest.mark.parametrize('channels', [4, 3])
def test_converted_npy_reproduces_the_npy(tmp_path, channels):
    out = model_output(seed=1, absent=(0, 3, 7))
    npy = stage_npy(*out, add_visible=channels == 4)
    path = tmp_path / 'c.pose'
    write_pose_atomic(path, pose_from_npy(npy, IDX, W, H, FPS))
    pose = read_pose(path)
    assert pose.header.total_points() == 85 and pose.body.data.shape == (8, 1, 85, 3)
    assert [c.name for c in pose.header.components] == ['BODY', 'FACE', 'LEFT_HAND', 'RIGHT_HAND']
    rows = npy_rows_from_pose(pose, IDX, add_visible=channels == 4)
    assert np.allclose(rows, npy, rtol=4 * np.finfo(np.float32).eps, atol=0)
    assert np.array_equal(rows[..., 2:], npy[..., 2:])  # z and visibility exactly
    empty = ~npy.any(axis=(1, 2))
    assert np.array_equal(pose_file.frames_without_person(pose), empty) and empty.sum() == 3
    if channels == 3:
        assert (pose.body.confidence[~empty] == 1).all()
    assert check_pose_file(path, _save(tmp_path / 'c.npy', npy), IDX) == []


def _save(path, array):
    np.save(path, array)
    return path


def test_pose_info_reads_a_written_file(written):
    pose_path = written[0]
    script = Path(sys.executable).parent / 'pose_info'  # the console command pose-format installs
    command = [str(script)] if script.exists() else \
        [sys.executable, '-c', 'import sys; from pose_format.bin.pose_info import main; sys.exit(main())']
    result = subprocess.run(command + ['-i', str(pose_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f'PoseHeaderDimensions(width={W}, height={H}, depth=5)' in result.stdout
    assert result.stdout.count('Format: XYZC') == 4 and 'PoseHeaderComponent: RIGHT_HAND' in result.stdout
    assert 'FPS: 24.0' in result.stdout and '(8, 1, 133, 3)' in result.stdout


def test_pose_visualizer_draws_a_written_file_into_a_video(written, tmp_path):
    pose = read_pose(written[0])
    visualizer = PoseVisualizer(pose)
    frames = list(visualizer.draw(background_color=(0, 0, 0)))
    assert len(frames) == 8 and frames[0].shape == (H, W, 3)
    present = written[2][3]
    assert all(f.any() for f, p in zip(frames, present) if p)
    assert not any(f.any() for f, p in zip(frames, present) if not p)  # no person: nothing drawn
    video = tmp_path / 'drawn.mp4'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'mp4v'), FPS, (W, H))
    for frame in frames:
        writer.write(frame)
    writer.release()
    capture = cv2.VideoCapture(str(video))
    count = 0
    while capture.read()[0]:
        count += 1
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    capture.release()
    assert count == 8 and size == (W, H)


@pytest.mark.parametrize('converted', [False, True])
def test_pose_format_shoulder_normalisation(written, tmp_path, converted):
    if converted:
        path = tmp_path / 'c.pose'
        write_pose_atomic(path, pose_from_npy(np.load(written[1]), IDX, W, H, FPS))
    else:
        path = written[0]
    pose = read_pose(path)
    info = pose_normalization_info(pose.header)
    names = pose_file.coco_point_names()
    at = [(c.name, p) for c in pose.header.components for p in c.points]
    assert (at[info.p1], at[info.p2]) == (names[6], names[5])  # right, left shoulder
    pose.normalize(info)
    points = pose.body.points_perspective()
    width = distance_batch(points[info.p1], points[info.p2]).mean()
    assert np.isfinite(width) and width == pytest.approx(1.0, rel=1e-5)


def test_check_pose_file_passes_a_good_file_and_finds_planted_problems(written, tmp_path):
    pose_path, npy_path, out = written
    assert check_pose_file(pose_path, npy_path, IDX) == []
    npy = np.load(npy_path)

    longer = _save(tmp_path / 'longer.npy', np.concatenate([npy, npy[:1]]))
    assert any('8 frames, the .npy has 9' in p for p in check_pose_file(pose_path, longer, IDX))

    emptied = npy.copy()
    emptied[2] = 0  # the .npy says no person where the .pose has one
    problems = check_pose_file(pose_path, _save(tmp_path / 'emptied.npy', emptied), IDX)
    assert any('not masked where the .npy row is all zeros (no person): frames 2' in p for p in problems), problems

    changed = npy.copy()
    changed[4, 10, 0] += np.float32(1e-3)
    problems = check_pose_file(pose_path, _save(tmp_path / 'changed.npy', changed), IDX)
    assert len(problems) == 1 and '1 values differ' in problems[0] and 'frames 4' in problems[0], problems

    # a file masked where the .npy has a person, and confidence outside [0, 1]
    xy, z, scores, present = out
    gone = present.copy()
    gone[3] = False
    write_pose_atomic(tmp_path / 'gone.pose', wholebody_pose(xy, z, scores, gone, W, H, FPS))
    assert check_pose_file(tmp_path / 'gone.pose', npy_path, IDX) == [
        'masked (no person) where the .npy has a person: frames 3']
    raw = wholebody_pose(xy, z, scores, present, W, H, FPS)
    raw.body.confidence = np.asarray(raw.body.confidence) * 2
    write_pose_atomic(tmp_path / 'raw.pose', raw)
    assert any('outside [0, 1]' in p for p in check_pose_file(tmp_path / 'raw.pose', npy_path, IDX))

    # not a .pose file, and a 2D (XYC) file from pose-format's own header
    (tmp_path / 'junk.pose').write_bytes(b'\x00\x01junk')
    assert check_pose_file(tmp_path / 'junk.pose', npy_path, IDX)[0].startswith('cannot be read by pose-format')
    flat = Pose(wholebody_header(W, H), raw.body)
    for c in flat.header.components:
        c.format = 'XYC'
    flat.body = type(raw.body)(fps=FPS, data=raw.body.data[..., :2], confidence=raw.body.confidence)
    write_pose_atomic(tmp_path / 'flat.pose', flat)
    assert any('point format XYC' in p for p in check_pose_file(tmp_path / 'flat.pose', npy_path, IDX))


def test_an_interrupted_write_leaves_no_file(tmp_path, monkeypatch, written):
    pose = read_pose(written[0])
    target = tmp_path / 'new.pose'
    broken = Pose(wholebody_header(W, H), type(pose.body)(fps=FPS, data=pose.body.data[..., :2],
                                                        confidence=pose.body.confidence))
    with pytest.raises(ValueError, match='dimensions'):  # fails while serialising, before any file
        write_pose_atomic(target, broken)
    old = written[0].read_bytes()

    def no_fsync(fd):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(os, 'fsync', no_fsync)  # fails on disk, after the bytes were written
    with pytest.raises(OSError):
        write_pose_atomic(target, pose)
    with pytest.raises(OSError):
        write_pose_atomic(written[0], pose)  # over an existing file: the old one stays whole
    assert not target.exists() and written[0].read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ['s.npy', 's.pose']


def run_script(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def test_converter_script_on_a_folder(tmp_path):
    folder = tmp_path / 'npy'
    folder.mkdir()
    out = model_output(seed=2)
    np.save(folder / 'good.npy', stage_npy(*out))
    np.save(folder / 'three.npy', stage_npy(*out, add_visible=False))
    np.save(folder / 'shape.npy', np.zeros((4, 84, 4), np.float32))
    (folder / 'junk.npy').write_bytes(b'not an array')
    (folder / 'kept.pose').write_bytes(b'earlier')
    np.save(folder / 'kept.npy', stage_npy(*out))

    result = run_script(folder, '--width', W, '--height', H)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2 and all(': not converted: ' in e for e in errors), errors
    assert any('shape.npy' in e and '(T, 85, 4 or 3)' in e for e in errors)
    assert any('junk.npy' in e and 'cannot be loaded' in e for e in errors)
    assert '2 converted, 1 already there' in result.stdout
    assert (folder / 'kept.pose').read_bytes() == b'earlier'
    assert not (folder / 'shape.pose').exists() and not (folder / 'junk.pose').exists()
    for name in ('good', 'three'):
        assert check_pose_file(folder / f'{name}.pose', folder / f'{name}.npy', IDX) == []
    pose = read_pose(folder / 'good.pose')
    assert pose.body.fps == 24.0 and (pose.header.dimensions.width, pose.header.dimensions.height) == (W, H)

    # the frame size from the video the ledger names; --overwrite; --out
    videos = tmp_path / 'videos'
    videos.mkdir()
    write_video(videos / 'clip.mp4', frames=10, fps=30.0, size=(W, H))
    record = dict(sentence='good', video='clip', status='written', reason='', frames=8, path='', reader='', time=1.0)
    (folder / 'ledger.jsonl').write_text(json.dumps(record) + '\n')
    target = tmp_path / 'poses'
    result = run_script(folder / 'good.npy', folder / 'three.npy', '--out', target, '--cfg-options',
                        f'VIDEO_DIR={videos}', f'CSV_FILE={tmp_path / "none.csv"}')
    assert result.returncode == 1 and '1 converted' in result.stdout, result.stdout + result.stderr
    assert 'three.npy: not converted: frame size unknown' in result.stderr and '--width' in result.stderr
    assert check_pose_file(target / 'good.pose', folder / 'good.npy', IDX) == []
    assert read_pose(target / 'good.pose').body.fps == 24.0  # min(REDUCE_FPS_TO, 30 fps)
    result = run_script(folder / 'kept.npy', '--overwrite', '--width', W, '--height', H, '--fps', 12.5)
    assert result.returncode == 0 and '1 converted' in result.stdout, result.stdout + result.stderr
    assert read_pose(folder / 'kept.pose').body.fps == 12.5
    assert run_script(folder / 'good.npy', '--width', W).returncode == 2  # --height missing
