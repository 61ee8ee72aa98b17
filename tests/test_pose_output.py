"""End to end with OUTPUT_FORMATS 'pose': the real script writes .pose files beside the .npy, pose-format
reads and draws them, they say what the .npy files say, and a killed run resumes with both formats."""
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import GOOD, ROOT, VIDEOS, kill_when_written, npy_files, options, run_stage
from pose_format import Pose
from pose_format.pose_visualizer import PoseVisualizer

from signpose.config import load_settings
from signpose.data.sampling import sample_frames
from signpose.output.pose_file import check_pose_file, frames_without_person, npy_rows_from_pose

IDX = list(load_settings().COCO_WHOLEBODY_IDX)
BOTH = '[npy,pose]'


def pose_files(folder):
    return {p.stem: p.read_bytes() for p in sorted(folder.glob('*.pose'))}


def read(path) -> Pose:
    with open(path, 'rb') as f:
        return Pose.read(f.read())


@pytest.fixture(scope='module')
def both_run(data):
    npy = data / 'npy_both'
    result = run_stage(options(data, npy, OUTPUT_FORMATS=BOTH))
    assert result.returncode == 0, result.stdout + result.stderr
    return npy


def test_both_formats_for_every_segment_and_the_npy_unchanged(both_run, first_run):
    assert set(pose_files(both_run)) == set(GOOD) == set(npy_files(both_run))
    expected = npy_files(first_run[0])
    for name, array in npy_files(both_run).items():  # asking for .pose files changes no .npy bit
        np.testing.assert_array_equal(array, expected[name])


def test_pose_files_hold_the_133_keypoints_with_the_header_and_rate(both_run):
    fps = {name: f for name, f, _ in VIDEOS}
    for name in GOOD:
        pose = read(both_run / f'{name}.pose')
        video, start, end = GOOD[name]
        assert [c.name for c in pose.header.components] == ['BODY', 'FACE', 'LEFT_HAND', 'RIGHT_HAND']
        assert pose.header.total_points() == 133 and {c.format for c in pose.header.components} == {'XYZC'}
        assert (pose.header.dimensions.width, pose.header.dimensions.height) == (160, 120)  # the video's pixels
        assert pose.body.fps == 24.0  # the sampled rate (videos of 25, 30, 50 fps sampled at 24)
        assert pose.body.data.shape == (len(sample_frames(fps[video], start, end, 24.0)), 1, 133, 3)
        confidence = np.asarray(pose.body.confidence)
        assert confidence.min() >= 0 and confidence.max() <= 1


def test_the_npy_rows_are_recomputed_from_the_pose_file(both_run):
    """x = clip(x_px / width, 0, 1), y likewise, z as is, visibility = confidence: the .npy's 85
    rows, within float32 rounding (the stage divides the model's float64 pixels)."""
    for name, array in npy_files(both_run).items():
        pose = read(both_run / f'{name}.pose')
        rows = npy_rows_from_pose(pose, IDX)
        np.testing.assert_array_max_ulp(rows, array, maxulp=1)
        empty = ~array.reshape(len(array), -1).any(axis=1)
        np.testing.assert_array_equal(frames_without_person(pose), empty)  # no person: masked, not zeros
        assert check_pose_file(both_run / f'{name}.pose', both_run / f'{name}.npy', IDX) == []


def test_frames_without_a_person_are_masked(data, tmp_path):
    """A detector threshold above every score: no person anywhere; then one segment with some."""
    npy = tmp_path / 'npy'
    result = run_stage(options(data, npy, OUTPUT_FORMATS=BOTH, BBOX_THR=0.999))
    assert result.returncode == 0, result.stderr
    for path in npy.glob('*.pose'):  # segments kept (some frame had a person): other frames masked
        pose = read(path)
        masked = frames_without_person(pose)
        assert (np.asarray(pose.body.confidence)[masked] == 0).all()
        assert np.ma.getmaskarray(pose.body.data)[masked].all()


def test_pose_format_tools_work_on_the_stage_files(both_run, tmp_path):
    path = both_run / 'v30_a.pose'
    pose_info = Path(sys.executable).parent / 'pose_info'  # pose-format's console command, in this environment
    info = subprocess.run([str(pose_info), '-i', str(path)], capture_output=True, text=True, timeout=120)
    assert info.returncode == 0 and 'BODY' in info.stdout, info.stderr
    video = tmp_path / 'drawn.mp4'  # pose-format's own command draws the file into a video
    drawn = subprocess.run([str(pose_info.parent / 'visualize_pose'), '-i', str(path), '-o', str(video)],
                           capture_output=True, text=True, timeout=300)
    assert drawn.returncode == 0, drawn.stdout + drawn.stderr
    capture = cv2.VideoCapture(str(video))
    pose = read(path)
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == pose.body.data.shape[0]
    capture.release()
    frames = list(PoseVisualizer(pose).draw())
    assert len(frames) == pose.body.data.shape[0] and frames[0].shape == (120, 160, 3)
    from pose_format.utils.generic import pose_normalization_info
    pose.normalize(pose_normalization_info(pose.header))
    shoulders = pose_normalization_info(pose.header)
    assert shoulders.p1 is not None and np.isfinite(np.ma.filled(pose.body.data, 0)).all()


def test_validator_checks_pose_files(both_run, data, tmp_path):
    folder = tmp_path / 'copy'
    shutil.copytree(both_run, folder)
    args = ['--cfg-options', f'NPY_DIR={folder}', f'CSV_FILE={data / "manifest.tsv"}', f'VIDEO_DIR={data / "videos"}']
    good = subprocess.run([sys.executable, 'scripts/3b_validate.py', *args], cwd=ROOT, capture_output=True, text=True)
    assert good.returncode == 0, good.stdout + good.stderr
    pose = read(folder / 'v30_b.pose')  # one frame masked where the .npy has a person
    pose.body.confidence[0] = 0
    with open(folder / 'v30_b.pose', 'wb') as f:
        pose.write(f)
    bad = subprocess.run([sys.executable, 'scripts/3b_validate.py', *args], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 1 and 'v30_b' in bad.stdout and 'pose file' in bad.stdout, bad.stdout


def test_pose_only_output(data, tmp_path, both_run):
    npy = tmp_path / 'pose_only'
    result = run_stage(options(data, npy, OUTPUT_FORMATS='pose'))
    assert result.returncode == 0, result.stderr
    assert not list(npy.glob('*.npy')) and pose_files(npy) == pose_files(both_run)
    again = run_stage(options(data, npy, OUTPUT_FORMATS='pose'))
    assert 'Skipped (output exists): 5' in again.stdout


def test_killed_run_resumes_with_both_formats(data, both_run):
    npy = data / 'npy_both_killed'
    kill_when_written(options(data, npy, OUTPUT_FORMATS=BOTH), npy, '*.pose')
    complete = set(pose_files(npy)) & set(npy_files(npy))
    assert len(complete) < len(GOOD), 'the kill should land mid-run'
    # a segment with only one of its two files is not done: drop one .pose of a finished segment too
    if complete:
        (npy / f'{sorted(complete)[0]}.pose').unlink()
        complete.discard(sorted(complete)[0])
    result = run_stage(options(data, npy, OUTPUT_FORMATS=BOTH))
    assert result.returncode == 0, result.stderr
    if complete:
        assert f'Skipped (output exists): {len(complete)}' in result.stdout
    else:  # the segment left with its .npy alone is done again, not counted as existing
        assert 'Skipped (output exists)' not in result.stdout
    assert pose_files(npy) == pose_files(both_run)  # the same bytes as the uninterrupted run
    expected, got = npy_files(both_run), npy_files(npy)
    assert set(got) == set(expected)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name])
    assert not [p for p in npy.iterdir() if p.name.endswith('.tmp')]
