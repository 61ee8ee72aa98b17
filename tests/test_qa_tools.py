"""The QA tools on synthetic output: the validator (scripts/3b_validate.py) and the visualiser
(scripts/3b_visualize.py). No models: the .npy files are made to (or made to break) the contract."""
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import ROOT, write_video

from signpose.config import Options, load_settings
from signpose.data.sampling import sample_frames
from signpose.contract.outcomes import FAILED, SKIPPED, WRITTEN, Outcome
from signpose.output.ledger import Ledger, ledger_path
from signpose.qa import validate as validate_mod
from signpose.cli import visualize as visualize_cli
from signpose.qa import visualize as visualize_mod

FPS, SECONDS, SIZE = 30.0, 2.0, (160, 120)
VISIBILITY = {'body': 0.9, 'face': 0.8, 'left hand': 0.6, 'right hand': 0.5}
SEGMENTS = {  # sentence -> (video, start, end); 1 s at 30 fps -> 24 sampled frames
    'good_a': ('clip', 0.0, 1.0), 'good_b': ('clip', 0.5, 1.5), 'no_video': ('gone', 0.0, 1.0),
    'short_video': ('clip', 1.0, 2.0), 'bad_keypoints': ('clip', 0.0, 1.0), 'bad_ndim': ('clip', 0.0, 1.0),
    'bad_nan': ('clip', 0.0, 1.0), 'bad_x': ('clip', 0.0, 1.0), 'bad_visibility': ('clip', 0.0, 1.0),
    'bad_dtype': ('clip', 0.0, 1.0), 'bad_truncated': ('clip', 0.0, 1.0), 'bad_frames': ('clip', 0.0, 1.0),
    'bad_channels': ('clip', 0.0, 1.0), 'bad_npz': ('clip', 0.0, 1.0),
    'skipped_one': ('clip', 0.0, 0.1), 'failed_one': ('clip', 1.2, 1.9),
}
BAD = {'bad_keypoints': 'keypoints', 'bad_ndim': 'shape', 'bad_nan': 'non-finite', 'bad_x': 'x range',
       'bad_visibility': 'visibility range', 'bad_dtype': 'dtype', 'bad_truncated': 'unreadable',
       'bad_frames': 'frame count', 'bad_channels': 'channels', 'bad_npz': 'unreadable'}


def figure_rows(frames: int, channels: int = 4, empty=()) -> np.ndarray:
    """A plausible signer: body, a ring of face points, two fanned hands; slight motion."""
    idx = load_settings().COCO_WHOLEBODY_IDX
    rows = np.zeros((frames, len(idx), channels), np.float32)
    body = [(0.65, 0.45), (0.35, 0.45), (0.7, 0.65), (0.3, 0.65), (0.6, 0.95), (0.4, 0.95)]  # left first
    for t in range(frames):
        shift = 0.05 * np.sin(t / 4)
        pts = list(body)
        pts += [(0.5 + 0.1 * np.cos(a), 0.25 + 0.13 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 37)]
        for wx, wy in ((0.72 + shift, 0.5), (0.28 - shift, 0.5)):  # the signer's left hand is on image right
            pts.append((wx, wy))
            for finger in range(5):
                angle = -np.pi / 2 + (finger - 2) * 0.35
                pts += [(wx + 0.025 * k * np.cos(angle), wy + 0.025 * k * np.sin(angle)) for k in range(1, 5)]
        rows[t, :, :2] = np.clip(pts, 0, 1)
        rows[t, :, 2] = 0.1 * np.sin(t / 5 + np.arange(len(idx)) / 10)
    if channels == 4:
        for position, coco in enumerate(idx):
            rows[:, position, 3] = VISIBILITY[validate_mod.part_of(coco)]
    rows[list(empty)] = 0
    return rows


def make_run(base, *, bad=True, add_visible=True):
    """videos/clip.mp4, a manifest, NPY_DIR with good (and bad) files and a ledger; the settings."""
    videos, npy = base / 'videos', base / 'npy'
    videos.mkdir()
    npy.mkdir()
    write_video(videos / 'clip.mp4', int(FPS * SECONDS), FPS, size=SIZE)
    manifest = base / 'manifest.tsv'
    manifest.write_text('VIDEO_NAME\tSENTENCE_NAME\tSTART\tEND\n' + ''.join(
        f'{v}\t{s}\t{a}\t{b}\n' for s, (v, a, b) in SEGMENTS.items()))
    settings = load_settings(overrides=dict(NPY_DIR=str(npy), CSV_FILE=str(manifest), VIDEO_DIR=str(videos),
                                            ADD_VISIBLE=add_visible))
    channels = 4 if add_visible else 3
    t = len(sample_frames(FPS, 0.0, 1.0, 24.0))
    assert t == 24
    files = {'good_a': figure_rows(t, channels, empty=(0, 5)), 'good_b': figure_rows(t, channels),
             'no_video': figure_rows(t, channels), 'short_video': figure_rows(10, channels)}
    if bad:
        good = figure_rows(t, channels)
        files['bad_keypoints'] = good[:, :84]
        files['bad_ndim'] = good[:, :, 0]
        files['bad_nan'] = good.copy()
        files['bad_nan'][3, 7, 2] = np.nan
        files['bad_x'] = good.copy()
        files['bad_x'][2, 50, 0] = 1.5
        files['bad_visibility'] = good.copy()
        files['bad_visibility'][4, 60, -1] = -0.2 if add_visible else 7.0  # 3 channels: z is free
        files['bad_dtype'] = good.astype(np.float64)
        files['bad_frames'] = figure_rows(30, channels)
        files['bad_channels'] = figure_rows(t, 3 if add_visible else 4)
        files['stray'] = good  # not in the manifest: a warning only
    for name, rows in files.items():
        np.save(npy / f'{name}.npy', rows)
    if bad:
        data = (npy / 'good_a.npy').read_bytes()
        (npy / 'bad_truncated.npy').write_bytes(data[:len(data) // 2])
        with open(npy / 'bad_npz.npy', 'wb') as f:  # np.savez under a .npy name
            np.savez(f, rows=files['good_a'])
    ledger = Ledger(ledger_path(npy))
    for name in files:
        if name in SEGMENTS and name != 'short_video':
            ledger.record(Outcome(name, SEGMENTS[name][0], WRITTEN, frames=len(files[name]),
                                  path=str(npy / f'{name}.npy')))
    ledger.record(Outcome('short_video', 'clip', WRITTEN, 'video ended early: 10 of 24 frames', 10))
    ledger.record(Outcome('skipped_one', 'clip', SKIPPED, 'too short: 0.100 s < 0.2 s'))
    ledger.record(Outcome('failed_one', 'clip', FAILED, 'RuntimeError: CUDA out of memory'))
    return settings


@pytest.fixture(scope='module')
def bad_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp('bad_run'))


@pytest.fixture(scope='module')
def good_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp('good_run'), bad=False)


def cli(script, *args):
    return subprocess.run([sys.executable, f'scripts/{script}', *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def cfg(settings):
    return ['--cfg-options', f'NPY_DIR={settings.NPY_DIR}', f'CSV_FILE={settings.CSV_FILE}',
            f'VIDEO_DIR={settings.VIDEO_DIR}']


# ------------------------------------------------------------------ validator
def test_good_files_pass_and_are_summarised(good_run):
    status, checks, report = validate_mod.validate(Options.of(good_run))
    assert status == 0, report
    by_name = {c.sentence: c for c in checks}
    assert all(c.ok for c in checks)
    assert by_name['good_a'].empty_frames == 2
    assert by_name['short_video'].warnings[0][0] == 'short video'  # explained by the ledger
    assert 'Result: OK (4 files)' in report
    assert 'frames with no person  2.4 % (2)' in report  # 2 of 24 + 24 + 24 + 10
    assert '0.90  0.80  0.60       0.50' in report  # body, face, left hand, right hand
    assert 'skipped (too short): 1' in report and 'failed (RuntimeError): 1' in report


def test_frame_count_without_the_video_is_estimated(good_run):
    _, checks, _ = validate_mod.validate(Options.of(good_run))
    assert next(c for c in checks if c.sentence == 'no_video').ok


@pytest.mark.parametrize('name, kind', sorted(BAD.items()))
def test_each_kind_of_bad_file_fails_with_a_reason(bad_run, name, kind):
    status, checks, report = validate_mod.validate(Options.of(bad_run))
    assert status == 1
    check = next(c for c in checks if c.sentence == name)
    assert kind in [k for k, _ in check.failures], check.failures
    assert all(detail for _, detail in check.failures)
    assert f'{name}.npy' in report


def test_the_bad_run_keeps_its_good_files_and_warns_about_strays(bad_run):
    _, checks, report = validate_mod.validate(Options.of(bad_run))
    by_name = {c.sentence: c for c in checks}
    assert {n for n, c in by_name.items() if not c.ok} == set(BAD)
    assert by_name['stray'].ok and by_name['stray'].warnings[0][0] == 'not in manifest'
    assert by_name['bad_frames'].failures == [('frame count', 'T = 30 frames, expected 24 (video at 30 fps)')]
    assert f'Failing files ({len(BAD)})' in report


def test_three_channel_output_is_checked_against_add_visible_false(tmp_path):
    settings = make_run(tmp_path, add_visible=False)
    status, checks, report = validate_mod.validate(Options.of(settings))
    failing = {c.sentence for c in checks if not c.ok}
    assert status == 1 and failing == set(BAD) - {'bad_visibility'}  # its 7.0 is a z value: allowed
    assert 'mean visibility (frames with a person)' not in report and 'no visibility channel' in report


def test_validate_cli_exit_status_and_table(bad_run, good_run, tmp_path):
    bad = cli('3b_validate.py', *cfg(bad_run))
    assert bad.returncode == 1, bad.stderr
    assert 'Failing files' in bad.stdout and 'bad_truncated.npy' in bad.stdout and 'cannot be loaded' in bad.stdout
    good = cli('3b_validate.py', *cfg(good_run))
    assert good.returncode == 0, good.stdout + good.stderr
    assert 'Result: OK' in good.stdout
    missing = cli('3b_validate.py', '--cfg-options', f'NPY_DIR={tmp_path / "nothing"}')
    assert missing.returncode == 2 and 'ERROR: NPY_DIR' in missing.stderr


# ------------------------------------------------------------------ visualiser
def test_visualize_cli_writes_video_sheet_and_wrist_plot(good_run, tmp_path):
    out = tmp_path / 'viz'
    run = cli('3b_visualize.py', 'good_a', '--out', str(out), '--frames', '6', *cfg(good_run))
    assert run.returncode == 0, run.stderr
    cap = cv2.VideoCapture(str(out / 'good_a.mp4'))
    frames = 0
    while cap.read()[0]:
        frames += 1
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == frames == 24
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(24.0)
    sheet = cv2.imread(str(out / 'good_a_sheet.png'))
    assert sheet is not None and sheet.shape[1] == 3 * visualize_mod.TILE_WIDTH  # 6 frames: 3 x 2
    plot = cv2.imread(str(out / 'good_a_wrist_z.png'))
    assert plot is not None and plot.shape[0] > 100


def test_visualize_defaults_to_npy_dir_viz_and_draws_the_landmarks(good_run):
    paths = visualize_mod.visualize(Options.of(good_run), 'good_b')
    assert all(p.parent.name == 'viz' and p.parent.parent.name == 'npy' and p.is_file() for p in paths)
    cap = cv2.VideoCapture(str(paths[0]))
    ok, frame = cap.read()
    assert ok
    # the right hand's colour is on the frame where the saved right wrist is
    rows = np.load(f'{good_run.NPY_DIR}/good_b.npy')
    x, y = (rows[0, 64, :2] * SIZE).astype(int)
    patch = frame[max(0, y - 3):y + 4, max(0, x - 3):x + 4].reshape(-1, 3).astype(int)
    assert (np.abs(patch - visualize_mod.COLOURS['right hand']).sum(axis=1) < 120).any()


def test_hidden_keypoints_are_not_drawn(good_run):
    drawer = visualize_mod.Drawer(Options.of(load_settings(overrides=dict(KPT_THR=0.95))))
    image = np.zeros((120, 160, 3), np.uint8)
    drawer.draw(image, figure_rows(1)[0])  # every visibility is below 0.95
    assert not image.any()
    drawer.draw(image, figure_rows(1, channels=3)[0])  # no visibility: everything is drawn
    assert image.any()


@pytest.mark.parametrize('sentence, message', [('nope', 'is not in the manifest'),
                                               ('failed_one', 'does not exist'),
                                               ('no_video', "video 'gone' not found")])
def test_visualize_errors_are_one_line_with_status_2(good_run, capsys, sentence, message):
    status = visualize_cli.main([*cfg(good_run), sentence])  # the name may follow --cfg-options
    err = capsys.readouterr().err
    assert status == 2 and message in err and err.startswith('ERROR: ') and err.count('\n') == 1


# ------------------------------------------------------------------ MULTI_PERSON's persons file
def test_draw_persons_greys_the_others_and_colours_the_kept_one():
    image = np.zeros((120, 160, 3), np.uint8)
    visualize_mod.draw_persons(image, [[10, 10, 60, 110], [90, 10, 150, 110]], 1)
    assert tuple(image[10, 30]) == visualize_mod.OTHER_PERSON  # the other's top edge
    assert tuple(image[10, 120]) == visualize_mod.KEPT_PERSON  # the kept one's
    small = np.zeros((60, 80, 3), np.uint8)
    visualize_mod.draw_persons(small, [[10, 10, 60, 110], [90, 10, 150, 110]], None, factor=0.5)
    assert tuple(small[5, 60]) == visualize_mod.OTHER_PERSON and not (small == visualize_mod.KEPT_PERSON).all(-1).any()


def test_visualize_draws_the_persons_file_of_a_multi_person_segment(tmp_path):
    import json

    from signpose.output.persons import persons_path, read_persons, write_persons_atomic
    settings = make_run(tmp_path, bad=False)
    boxes = [[[8, 8, 60, 112], [90, 8, 152, 112]]] * 24
    record = dict(mode='signer', frames=24, boxes=boxes, chosen=[1] * 20 + [None] * 4,
                  selection=dict(mode='signer', tracks=2, score=0.8123, runner_up=0.4012))
    path = persons_path(settings.NPY_DIR, 'good_b')
    write_persons_atomic(path, record)
    assert read_persons(path) == json.loads(json.dumps(record)) and not list(path.parent.glob('.*'))
    out = tmp_path / 'viz'
    paths = visualize_mod.visualize(Options.of(settings), 'good_b', out, sheet_frames=4)
    sheet = cv2.imread(str(paths[1]))
    kept = (sheet == visualize_mod.KEPT_PERSON).all(-1)
    other = (np.abs(sheet.astype(int) - visualize_mod.OTHER_PERSON).sum(-1) == 0)
    assert kept.sum() > 200 and other.sum() > 200  # both boxes on the tiles
    tile_h = round(SIZE[1] * visualize_mod.TILE_WIDTH / SIZE[0])
    assert sheet.shape[0] == 28 + 22 + tile_h  # the legend, the persons' line, 4 tiles in a row
    cap = cv2.VideoCapture(str(paths[0]))
    ok, frame = cap.read()
    magenta = np.abs(frame.astype(int) - visualize_mod.KEPT_PERSON).sum(-1) < 150
    assert ok and magenta[:, 85:].sum() > 50 and magenta[:, :70].sum() == 0
    # a segment without a persons file is drawn as before; a broken one is a warning, not a stop
    path.write_text('{')
    assert visualize_mod.visualize(Options.of(settings), 'good_b', out, sheet_frames=4)


def test_histogram_bins_count_as_the_plain_rule():
    """charts.binned (numpy) counts as int(v / top * bins) clamped into the bins, overflow apart."""
    from signpose.qa.charts import binned
    rng = np.random.default_rng(3)
    values = list(rng.uniform(-0.5, 1.5, 2000)) + [0.0, 1.0, 0.05, 0.999999, 1.000001, -0.0, 1e300, True, 7]
    for top, bins, overflow in ((1.0, 20, False), (1.0, 20, True), (0.3, 7, True), (5, 10, False)):
        counts, above = [0] * bins, 0
        for v in values:
            if overflow and v > top:
                above += 1
                continue
            counts[min(bins - 1, max(0, int(v / top * bins)))] += 1
        assert binned(values, top, bins, overflow) == (counts, above)
    assert binned([], 1.0, 4, True) == ([0, 0, 0, 0], 0)


def test_the_validator_names_bad_rows_and_rows_never_processed(tmp_path):
    """Every manifest row is accounted for: bad rows by line and reason, rows no run reached by name."""
    settings = make_run(tmp_path, bad=False)
    with open(settings.CSV_FILE, 'a') as f:
        f.write('clip\tgood_a\t0\t1\n'          # a duplicate name (line 2 + len(SEGMENTS))
                'clip\tbackwards\t2\t1\n'       # end <= start
                'clip\tnot_yet\t0\t1\n')        # a good row no run has reached
    status, _, report = validate_mod.validate(Options.of(settings))
    assert status == 0, report
    first = len(SEGMENTS) + 2
    rows = len(SEGMENTS) + 3
    assert f'Manifest: {rows} rows: 4 with a file, 1 skipped, 1 failed, ' in report
    assert f'1 failed, {len(SEGMENTS) - 6 + 1} never processed, 2 bad rows' in report
    assert 'never processed: ' in report and 'not_yet' in report.split('never processed: ')[1].splitlines()[0]
    bad = report.split('Bad manifest rows (2')[1]
    assert f'{first}' in bad and "duplicate SENTENCE_NAME 'good_a'" in bad
    assert f'{first + 1}' in bad and 'end <= start' in bad
