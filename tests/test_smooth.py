"""Gap filling and smoothing after the stage (signpose.trajectories, scripts/3b_smooth.py), on
synthetic signing with a known truth (tests/support/synthetic_signing.py). No model, no video."""
import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from signpose.config import Options, load_settings
from signpose.trajectories import Smoothing, find_gaps, missing_points, smooth_array, smooth_folder
from signpose.trajectories import filters
from signpose.trajectories.folder import FILLED_DIR, RECORD_NAME, FolderError
from signpose.trajectories.parts import STAGE_COCO_IDX, part_rows
from tests.support import synthetic_signing as synth

RIGHT_HAND = slice(synth.RIGHT_HAND.start, synth.RIGHT_HAND.stop)


def xy_error(array, truth, mask):
    return np.linalg.norm((array[..., :2] - truth[..., :2]) * synth.FRAME, axis=-1)[mask].mean()


def best_shift(output, truth, frames, row):
    """The delay (frames) of ``output`` against ``truth`` at ``frames`` (+: late)."""
    t = np.arange(len(truth))
    shifts = np.arange(-3, 3.001, 0.05)
    errors = [((output[frames, row, :2] - np.stack([np.interp(frames - s, t, truth[:, row, c]) for c in (0, 1)], 1))
               ** 2).sum() for s in shifts]
    return shifts[int(np.argmin(errors))]


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cli(*args):
    return subprocess.run([sys.executable, str(ROOT / 'scripts' / '3b_smooth.py'), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


# ------------------------------------------------------------------ the array


def test_the_stage_keypoints_are_the_configured_ones():
    assert tuple(load_settings().COCO_WHOLEBODY_IDX) == STAGE_COCO_IDX
    rows = part_rows()
    assert list(rows['torso']) == [0, 1, 4, 5] and list(rows['elbows']) == [2, 3]
    assert len(rows['face']) == 37 and list(rows['hands']) == list(range(43, 85))


@pytest.mark.parametrize('method', ['savgol', 'oneeuro2'])
def test_noisy_input_comes_closer_to_the_truth(method):
    for seed in (11, 12, 13):
        seg = synth.make_segment(seed, noise=1.5)
        out, filled = smooth_array(seg.observed, method)
        assert out.shape == seg.observed.shape and out.dtype == np.float32 and filled.shape == out.shape[:2]
        measured = ~missing_points(seg.observed, 0.3)
        for rows in (range(0, 6), synth.FACE, range(43, 85)):  # body, face, hands: each better than raw
            mask = np.zeros_like(measured)
            mask[:, rows] = measured[:, rows]
            raw, after = xy_error(seg.observed, seg.truth, mask), xy_error(out, seg.truth, mask)
            assert after < 0.95 * raw, (seed, rows, raw, after)


def test_the_input_array_is_not_modified():
    seg = synth.make_segment(3)
    before = seg.observed.copy()
    smooth_array(seg.observed)
    assert np.array_equal(before, seg.observed)


@pytest.mark.parametrize('method', ['savgol', 'oneeuro2'])
def test_a_fast_movement_is_not_delayed_by_more_than_a_frame(method):
    seg = synth.fast_swipe(noise=1.0)
    out, _ = smooth_array(seg.observed, method)
    frames = np.flatnonzero(seg.fast[:, 1])
    assert len(frames) >= 5
    assert abs(best_shift(out, seg.truth, frames, synth.RIGHT_WRIST)) <= 1.0
    # and the hand gets where it went: the end of the movement is not cut short
    end = frames[-1] + 2
    assert np.linalg.norm((out[end, synth.RIGHT_WRIST, :2] - seg.truth[end, synth.RIGHT_WRIST, :2]) * synth.FRAME) < 15


def test_the_causal_one_euro_lags_more_than_the_forward_backward():
    """What the docs say of the two One Euro variants, measured."""
    seg = synth.fast_swipe()
    frames = np.flatnonzero(seg.fast[:, 1])
    causal, _ = smooth_array(seg.observed, 'oneeuro', parts={'hands': {'beta': 5.0, 'min_cutoff': 1.0}})
    both, _ = smooth_array(seg.observed, 'oneeuro2', parts={'hands': {'beta': 5.0, 'min_cutoff': 1.0}})
    assert best_shift(causal, seg.truth, frames, synth.RIGHT_WRIST) > 0.5
    assert abs(best_shift(both, seg.truth, frames, synth.RIGHT_WRIST)) <= 0.5


@pytest.mark.parametrize('method', ['savgol', 'oneeuro', 'oneeuro2', 'none'])
def test_no_value_is_invented_across_a_long_gap(method):
    seg = synth.make_segment(21, seconds=4)
    observed = seg.observed.copy()
    observed[30:45, RIGHT_HAND] = 0  # the right hand gone for 15 frames
    observed[60:70] = 0  # the person gone for 10 frames
    observed[80:83, RIGHT_HAND, 3] = 0.1  # a low-score hand, 3 frames: filled
    observed[90:100, RIGHT_HAND, 3] = 0.1  # ... 10 frames: left as it is
    out, filled = smooth_array(observed, method)
    assert np.array_equal(out[30:45, RIGHT_HAND], observed[30:45, RIGHT_HAND])
    assert not out[60:70].any() and not filled[60:70].any() and not filled[30:45, RIGHT_HAND].any()
    assert np.array_equal(out[90:100, RIGHT_HAND], observed[90:100, RIGHT_HAND]) and not filled[90:100].any()
    assert filled[80:83, RIGHT_HAND].all()
    # the frames around a long gap are smoothed as their own runs: nothing leaks from across it
    assert np.abs(out[29, RIGHT_HAND, :2] - seg.truth[29, RIGHT_HAND, :2]).max() < 0.05


def test_gaps_at_the_ends_are_not_extrapolated():
    seg = synth.make_segment(22, seconds=3)
    observed = seg.observed.copy()
    observed[:3] = 0
    observed[-2:, RIGHT_HAND] = 0
    out, filled = smooth_array(observed)
    assert not out[:3].any() and not out[-2:, RIGHT_HAND].any() and not filled[:3].any() and not filled[-2:].any()


def test_filled_values_are_marked_and_keep_the_contract():
    seg = synth.make_segment(23, seconds=4, drops=False)
    observed = seg.observed.copy()
    observed[..., 3] = np.maximum(observed[..., 3], 0.5)  # no point below the score floor but these:
    observed[40] = 0  # one frame without the person
    observed[50:54, RIGHT_HAND] = 0  # the right hand lost for 4 frames
    out, filled = smooth_array(observed)
    assert filled[40].all() and filled[50:54, RIGHT_HAND].all()
    assert filled.sum() == 85 + 4 * 21  # nothing else
    assert out[40].any() and np.all((out[..., :2] >= 0) & (out[..., :2] <= 1))
    # visibility of a filled point: half the lower of its neighbours' (the documented convention)
    for point in (0, 50, 70):
        expected = 0.5 * min(observed[39, point, 3], observed[41, point, 3])
        assert out[40, point, 3] == pytest.approx(expected, rel=1e-6)
    # measured visibility is kept as measured
    assert np.array_equal(out[~filled][:, 3], observed[~filled][:, 3])
    # filled positions close to the truth (the gap is short, the movement smooth)
    assert xy_error(out, seg.truth, filled) < 25
    # filled_visibility=0: a filled point is invisible to a visibility threshold, still marked
    out0, filled0 = smooth_array(observed, filled_visibility=0.0)
    assert np.array_equal(filled0, filled) and not out0[filled0][:, 3].any()


def test_max_gap_zero_fills_nothing_and_a_three_channel_array_works():
    seg = synth.make_segment(24, seconds=3)
    out, filled = smooth_array(seg.observed, max_gap=0)
    assert not filled.any()
    seg = synth.make_segment(24, seconds=3, drops=False)
    three = seg.observed[..., :3].copy()  # ADD_VISIBLE = False: missing means all zeros
    three[20:23] = 0  # 3 frames without the person: filled
    three[40:50] = 0  # 10 frames: left empty
    out3, filled3 = smooth_array(three)
    assert out3.shape == three.shape and filled3[20:23].all() and out3[20:23].all(axis=-1).any()
    assert not filled3[40:50].any() and not out3[40:50].any()
    measured = np.any(three != 0, axis=2) & np.any(seg.observed[..., :3] != 0, axis=2)
    assert xy_error(out3, seg.truth, measured) < xy_error(three, seg.truth, measured)


def test_a_short_segment_comes_back_unchanged():
    observed = synth.make_segment(25, seconds=1).observed[:8]
    out, filled = smooth_array(observed)
    assert np.array_equal(out, observed) and not filled.any()


def test_weighted_savgol_with_equal_weights_is_scipys_and_weights_pull_away_from_outliers():
    rng = np.random.default_rng(0)
    values = np.cumsum(rng.normal(size=(40, 3)), axis=0)
    equal = filters.weighted_savgol(values, np.full(40, 0.7), 9, 3)
    assert np.allclose(equal, filters.savgol(values, 9, 3), atol=1e-9)
    spiky = values.copy()
    spiky[20] += 50
    weights = np.ones(40)
    weights[20] = 1e-3
    assert np.abs(filters.savgol(spiky, 9, 3, weights)[20] - values[20]).max() < 2
    assert np.abs(filters.savgol(spiky, 9, 3)[20] - values[20]).max() > 10


def test_find_gaps():
    missing = np.zeros((10, 2), bool)
    missing[0:2, 0] = missing[4:6, 0] = missing[9, 1] = True
    gaps = find_gaps(missing)
    assert [(g.point, g.start, g.stop, g.bounded) for g in gaps] == [(0, 0, 2, False), (0, 4, 6, True), (1, 9, 10, False)]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match='window'):
        smooth_array(np.zeros((20, 85, 4), np.float32), parts={'hands': {'window': 4}})
    with pytest.raises(ValueError, match='unknown part'):
        smooth_array(np.zeros((20, 85, 4), np.float32), parts={'feet': {'window': 5}})
    with pytest.raises(ValueError, match='method'):
        smooth_array(np.zeros((20, 85, 4), np.float32), 'kalman')


# ------------------------------------------------------------------ a folder


@pytest.fixture
def stage_folder(tmp_path):
    """A stage output folder: three good segments, a short one, three bad files, a ledger."""
    folder = tmp_path / 'npy'
    folder.mkdir()
    for seed in (1, 2, 3):
        np.save(folder / f'seg{seed}.npy', synth.make_segment(seed, seconds=4).observed)
    np.save(folder / 'short.npy', synth.make_segment(4, seconds=1).observed[:6])
    np.save(folder / 'bad_shape.npy', np.zeros((10, 84, 4), np.float32))
    np.save(folder / 'bad_dtype.npy', synth.make_segment(5, seconds=1).observed.astype(np.float64))
    nan = synth.make_segment(6, seconds=1).observed
    nan[3, 3, 0] = np.nan
    np.save(folder / 'bad_nan.npy', nan)
    (folder / 'ledger.jsonl').write_text('{"sentence": "seg1"}\n')
    return folder


def folder_state(folder):
    return {p.name: sha(p) for p in sorted(folder.rglob('*')) if p.is_file()}


def check_output(stage_folder, out, record):
    assert record['summary']['bad_files'] == ['bad_dtype.npy', 'bad_nan.npy', 'bad_shape.npy']
    by_file = {e['file']: e for e in record['files']}
    assert 'dtype' in by_file['bad_dtype.npy']['reason'] and 'NaN' in by_file['bad_nan.npy']['reason']
    assert by_file['short.npy']['status'] == 'copied unfiltered' and '6 frames' in by_file['short.npy']['reason']
    assert np.array_equal(np.load(out / 'short.npy'), np.load(stage_folder / 'short.npy'))
    for name in ('seg1', 'seg2', 'seg3'):
        entry = by_file[f'{name}.npy']
        assert entry['status'] == 'processed' and entry['frames'] == 96
        array, filled = np.load(out / f'{name}.npy'), np.load(out / FILLED_DIR / f'{name}.npy')
        assert array.shape == (96, 85, 4) and array.dtype == np.float32 and filled.dtype == bool
        assert filled.shape == (96, 85) and entry['points_filled'] == int(filled.sum()) > 0
        assert entry['quality_before']['person'] <= entry['quality_after']['person'] == 96
        assert all(isinstance(entry[q][f'jitter_{h}'], float) for q in ('quality_before', 'quality_after') for h in 'lr')
    for bad in ('bad_shape', 'bad_dtype', 'bad_nan'):
        assert not (out / f'{bad}.npy').exists()
    assert record['settings']['method'] == 'savgol' and set(record['settings']['parts']) == {'torso', 'elbows',
                                                                                                'face', 'hands'}
    assert json.loads((out / RECORD_NAME).read_text()) == record
    assert not list(out.rglob('.*tmp'))  # no temporary file left


def test_folder_through_the_api(stage_folder, tmp_path):
    before = folder_state(stage_folder)
    out = tmp_path / 'smooth'
    record = smooth_folder(stage_folder, out)
    assert folder_state(stage_folder) == before  # the stage's outputs untouched, byte for byte
    check_output(stage_folder, out, record)
    with pytest.raises(FolderError, match='input folder'):
        smooth_folder(stage_folder, stage_folder)
    with pytest.raises(FolderError, match='does not exist'):
        smooth_folder(tmp_path / 'nowhere', out)


def test_folder_through_the_command(stage_folder, tmp_path):
    before = folder_state(stage_folder)
    out = tmp_path / 'smooth'
    run = cli(stage_folder, out)
    assert run.returncode == 1, run.stderr  # some file skipped as bad
    assert folder_state(stage_folder) == before
    for bad in ('bad_shape.npy', 'bad_dtype.npy', 'bad_nan.npy'):
        assert f'SKIPPED {bad}' in run.stderr
    check_output(stage_folder, out, json.loads((out / RECORD_NAME).read_text()))

    refused = cli(stage_folder, str(stage_folder) + '/')
    assert refused.returncode == 2 and refused.stderr.count('ERROR:') == 1 and 'input folder' in refused.stderr
    assert folder_state(stage_folder) == before
    missing = cli(tmp_path / 'nowhere', tmp_path / 'x')
    assert missing.returncode == 2 and 'ERROR:' in missing.stderr

    for bad in ('bad_shape', 'bad_dtype', 'bad_nan'):
        (stage_folder / f'{bad}.npy').unlink()
    good = cli(stage_folder, tmp_path / 'oneeuro', '--method', 'oneeuro2', '--set', 'hands.beta=100', '--quiet')
    assert good.returncode == 0, good.stderr
    record = json.loads((tmp_path / 'oneeuro' / RECORD_NAME).read_text())
    assert record['settings']['method'] == 'oneeuro2' and record['settings']['parts']['hands']['beta'] == 100.0
    usage = cli(stage_folder, tmp_path / 'y', '--set', 'hands.window=4')
    assert usage.returncode == 2 and 'ERROR:' in usage.stderr


def test_pose_files_in_and_out(tmp_path):
    pose_file = pytest.importorskip('signpose.output.pose_file')
    folder = tmp_path / 'npy'
    folder.mkdir()
    array = synth.make_segment(8, seconds=4).observed
    np.save(folder / 'p.npy', array)
    pose_file.write_pose_atomic(folder / 'p.pose', pose_file.pose_from_npy(array, STAGE_COCO_IDX, 1280, 720, 24.0))
    (folder / 'broken.pose').write_bytes(b'not a pose')
    before = folder_state(folder)
    record = smooth_folder(folder, tmp_path / 'out')
    assert folder_state(folder) == before
    by_file = {e['file']: e for e in record['files']}
    assert by_file['broken.pose']['status'] == 'bad' and by_file['p.pose']['status'] == 'processed'
    pose = pose_file.read_pose(tmp_path / 'out' / 'p.pose')
    assert pose.body.fps == 24.0 and pose.header.dimensions.width == 1280
    rows = pose_file.npy_rows_from_pose(pose, STAGE_COCO_IDX)
    smoothed = np.load(tmp_path / 'out' / 'p.npy')
    assert np.abs(rows - smoothed).max() < 1e-5  # the .pose holds what the .npy holds
    assert np.array_equal(np.load(tmp_path / 'out' / FILLED_DIR / 'p.pose.npy'),
                          np.load(tmp_path / 'out' / FILLED_DIR / 'p.npy'))


def test_the_package_imports_only_what_it_may():
    """numpy, scipy, pandas and the project's contract, common, output.files, output.pose_file
    (inside the .pose function only) and engine.quality; and nothing imports it but the command
    and the report's reader of a processed folder (qa/processed.py: its record's names)."""
    import ast
    allowed = ('signpose.contract', 'signpose.common', 'signpose.output.files', 'signpose.output.pose_file',
               'signpose.output', 'signpose.engine.quality', 'signpose.trajectories')
    for path in (ROOT / 'signpose' / 'trajectories').glob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                top = name.split('.')[0]
                if top == 'signpose':
                    assert name.startswith(allowed), f'{path.name} imports {name}'
                else:
                    assert top in ('numpy', 'scipy', 'pandas', 'pose_format', 'typing', 'dataclasses', 'json',
                                   'time', 'pathlib', 'importlib'), f'{path.name} imports {name}'
    for path in (ROOT / 'signpose').rglob('*.py'):
        if 'trajectories' in path.parts or path.name in ('smooth.py', 'processed.py') or \
                path == ROOT / 'signpose' / '__init__.py':  # its lazy export
            continue
        assert 'signpose.trajectories' not in path.read_text(), path


# ------------------------------------------------------------------ the viewer, raw and processed


def test_the_viewer_draws_a_processed_copy_over_the_raw_one(tmp_path):
    import cv2
    from conftest import write_video
    from signpose.cli import visualize as visualize_cli
    from signpose.qa import visualize as visualize_mod

    (tmp_path / 'videos').mkdir()
    write_video(tmp_path / 'videos' / 'clip.mp4', 30, 30.0, size=(160, 120))
    (tmp_path / 'manifest.tsv').write_text('VIDEO_NAME\tSENTENCE_NAME\tSTART\tEND\nclip\tseg\t0.0\t1.0\n')
    npy = tmp_path / 'npy'
    npy.mkdir()
    raw = synth.make_segment(9, seconds=1, drops=False).observed
    raw[..., 3] = 0.9
    np.save(npy / 'seg.npy', raw)
    record = smooth_folder(npy, tmp_path / 'smooth')  # 24 frames: processed
    assert record['files'][0]['status'] == 'processed'
    options = Options.of(load_settings(overrides=dict(NPY_DIR=str(npy), CSV_FILE=str(tmp_path / 'manifest.tsv'),
                                                      VIDEO_DIR=str(tmp_path / 'videos'))))
    cyan = lambda image: (image == visualize_mod.COMPARE).all(-1).sum()  # noqa: E731

    plain = visualize_mod.visualize(options, 'seg', tmp_path / 'plain', sheet_frames=4)
    assert cyan(cv2.imread(str(plain[1]))) == 0
    status = visualize_cli.main(['seg', '--out', str(tmp_path / 'both'), '--frames', '4', '--compare',
                                 str(tmp_path / 'smooth'), '--cfg-options', f'NPY_DIR={npy}',
                                 f'CSV_FILE={tmp_path / "manifest.tsv"}', f'VIDEO_DIR={tmp_path / "videos"}'])
    assert status == 0
    assert cyan(cv2.imread(str(tmp_path / 'both' / 'seg_sheet.png'))) > 50

    image = np.zeros((120, 160, 3), np.uint8)
    visualize_mod.draw_with_comparison(visualize_mod.Drawer(options), image, raw[0], raw[0] * [1, 1, 1, 1])
    assert cyan(image) > 0  # drawn last: on top of the raw one
    (tmp_path / 'smooth' / 'seg.npy').unlink()
    with pytest.raises(visualize_mod.VizError, match='no processed copy'):
        visualize_mod.visualize(options, 'seg', tmp_path / 'x', compare_dir=tmp_path / 'smooth')
