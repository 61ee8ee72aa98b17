"""End to end: the real script, as a subprocess, with real models (seeded weights) and real videos."""
import signal
import subprocess
import sys
import time

import numpy as np
from conftest import GOOD, ROOT, SCRIPT, VIDEOS, kill_when_written, npy_files, options, run_stage

from signpose.data.sampling import sample_frames
from signpose.output.ledger import read_ledgers


def test_writes_every_good_segment_to_the_contract(first_run):
    npy, result = first_run
    files = npy_files(npy)
    assert set(files) == set(GOOD)
    fps = {name: f for name, f, _ in VIDEOS}
    for name, array in files.items():
        video, start, end = GOOD[name]
        assert array.dtype == np.float32 and array.ndim == 3 and array.shape[1:] == (85, 4)
        assert len(array) == len(sample_frames(fps[video], start, end, 24.0))
        assert np.isfinite(array).all()
        for channel in (0, 1, 3):  # x, y, visibility in [0, 1]; z in metres
            assert array[..., channel].min() >= 0 and array[..., channel].max() <= 1
        assert np.abs(array[..., 2]).max() < 2.5  # within the codec's z range
    assert len(files['v30_a']) == 19  # 0.8 s at 30 fps = 24 frames -> 19 at 24 fps


def test_console_reports_each_segment_and_the_summary(first_run):
    npy, result = first_run
    out = result.stdout + result.stderr
    assert 'Manifest: 12 rows, 3 bad' in out
    assert 'Tasks: 5 segments to process in 3 videos' in out
    for reason in ('fps out of range', 'video unreadable', 'video missing', 'too short'):
        assert f'Skipped ({reason}): 1' in out
    assert f'v30_a: 19 frames -> {npy / "v30_a.npy"}' in out
    assert '[5/5]' in out and 'Processed: 5 segments' in out and f'Output folder: {npy}' in out


def test_ledger_says_why_each_segment_has_or_has_no_file(first_run):
    npy, _ = first_run
    ledger = read_ledgers(npy)
    assert {k for k, o in ledger.items() if o.status == 'written'} == set(GOOD)
    assert ledger['slow'].reason.startswith('fps out of range')
    assert ledger['corrupt'].reason.startswith('video unreadable')
    assert ledger['missing'].reason.startswith('video missing')
    assert ledger['tiny'].reason.startswith('too short')


def test_rerun_writes_nothing_new(data, first_run):
    npy, _ = first_run
    outputs = lambda: {p.name: p.stat().st_mtime_ns for p in npy.iterdir() if p.name != 'runs'}  # noqa: E731
    before, records = outputs(), set((npy / 'runs').iterdir())
    result = run_stage(options(data, npy))
    assert result.returncode == 0, result.stderr
    assert 'Tasks: 0 segments' in result.stdout and 'Skipped (output exists): 5' in result.stdout
    assert outputs() == before
    assert records < set((npy / 'runs').iterdir())  # only the rerun's own run record is new


def test_killed_run_restarted_gives_exactly_the_same_files(data, first_run):
    npy = data / 'npy_killed'
    kill_when_written(options(data, npy), npy, '*.npy')
    partial = set(npy_files(npy))
    assert 0 < len(partial) < len(GOOD), 'the kill should land mid-run'
    result = run_stage(options(data, npy))
    assert result.returncode == 0, result.stderr
    assert f'Skipped (output exists): {len(partial)}' in result.stdout
    expected, got = npy_files(first_run[0]), npy_files(npy)
    assert set(got) == set(expected)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name])
    assert not [p for p in npy.iterdir() if p.name.endswith('.tmp')]


def test_segments_with_two_persons_are_skipped_whole(data):
    npy = data / 'npy_two'
    result = run_stage(options(data, npy, det='det2.py'))
    assert result.returncode == 0, result.stderr
    assert not list(npy.glob('*.npy'))
    assert 'Skipped (multiple persons detected): 5' in result.stdout
    ledger = read_ledgers(npy)
    assert all(ledger[name].reason == 'multiple persons detected' for name in GOOD)
    # final: a rerun does not decode them again
    again = run_stage(options(data, npy, det='det2.py'))
    assert 'Tasks: 0 segments' in again.stdout and 'Skipped (final in ledger): 5' in again.stdout


def test_no_person_and_three_channels(data):
    npy = data / 'npy_three'
    result = run_stage(options(data, npy, ADD_VISIBLE=False, BBOX_THR=1.5))
    assert 'Skipped (no person detected): 5' in result.stdout
    result = run_stage(options(data, npy, ADD_VISIBLE=False))
    assert result.returncode == 0
    # no-person was final for those segments: a changed threshold needs a fresh NPY_DIR
    assert 'Skipped (final in ledger): 5' in result.stdout
    npy2 = data / 'npy_three_b'
    assert run_stage(options(data, npy2, ADD_VISIBLE=False)).returncode == 0
    assert all(a.shape[2] == 3 for a in npy_files(npy2).values())


def test_missing_checkpoint_is_one_clear_line_and_exit_2(data, tmp_path):
    """A missing checkpoint is downloaded from its link on first use; one that cannot be fetched
    is one line naming the file and the link."""
    import socket
    with socket.socket() as closed:  # a port nothing listens on: the download cannot start
        closed.bind(('127.0.0.1', 0))
        url = f'http://127.0.0.1:{closed.getsockname()[1]}/absent-00000000.pth'
    result = run_stage(options(data, tmp_path / 'npy', POSE_MODEL_CHECKPOINT=tmp_path / 'absent.pth',
                               POSE_MODEL_CHECKPOINT_LINK=url))
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith('ERROR')]
    assert len(errors) == 1
    assert str(tmp_path / 'absent.pth') in errors[0] and url in errors[0]
    assert not (tmp_path / 'absent.pth').exists()


def test_wrong_checkpoint_is_refused_not_run_with_random_weights(data, tmp_path):
    result = run_stage(options(data, tmp_path / 'npy', POSE_MODEL_CHECKPOINT=data / 'det.pth'))
    assert result.returncode == 2
    assert 'does not fit its config' in result.stderr and str(data / 'det.pth') in result.stderr
    assert not list((tmp_path / 'npy').glob('*.npy'))


def test_unknown_setting_is_an_error(data, tmp_path):
    result = run_stage(['--cfg-options', 'BBOX_TRH=0.5'])
    assert result.returncode != 0 and 'BBOX_TRH' in result.stderr


def test_process_pool_of_two_workers_gives_the_same_segments_and_a_clean_log(data, first_run):
    npy = data / 'npy_pool'
    log = data / 'pool.log'
    with open(log, 'w') as f:  # as under Slurm: stdout and stderr into one file
        result = subprocess.run([sys.executable, SCRIPT, *options(data, npy, MAX_WORKERS=2)], cwd=ROOT,
                                stdout=f, stderr=subprocess.STDOUT, timeout=900)
    text = log.read_text()
    assert result.returncode == 0, text
    lines = text.splitlines()
    assert '\r' not in text and all(line.strip() for line in lines)  # no redraws, no blank lines
    assert sum(line.startswith('[') and '/5] ' in line for line in lines) == 5 and 'Processed: 5 segments' in text
    assert 'checkpoint is None' not in text and 'Warning' not in text  # nothing a user need not read
    expected, got = npy_files(first_run[0]), npy_files(npy)
    assert set(got) == set(expected)
    for name in expected:  # one torch thread per worker instead of two: equal up to float rounding
        assert got[name].shape == expected[name].shape
        np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=1e-5)


def test_ctrl_c_stops_cleanly_and_the_rerun_finishes(data, first_run):
    npy = data / 'npy_interrupted'
    process = subprocess.Popen([sys.executable, SCRIPT, *options(data, npy)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 600
    while not list(npy.glob('*.npy')) and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 130, out
    assert 'Interrupted: finished segments are saved' in out and 'Traceback' not in out
    assert not [p for p in npy.iterdir() if p.name.endswith('.tmp')]
    assert run_stage(options(data, npy)).returncode == 0
    assert set(npy_files(npy)) == set(GOOD)


# every codec and container of a download, a variable frame rate, a phone video, undecodable data
VFR_TIMES = [i / 30 for i in range(30)] + [1 + i / 10 for i in range(10)]
CODEC_SEGMENTS = {  # sentence: (video file, encoder, start, end)
    'av1_mp4': ('av1.mp4', 'libsvtav1', 0.3, 0.8), 'av1_webm': ('av1.webm', 'libsvtav1', 0.5, 1.0),
    'vp9_webm': ('vp9.webm', 'libvpx-vp9', 0.2, 0.6), 'hevc_mp4': ('hevc.mp4', 'libx265', 0.4, 0.8),
    'h264_mkv': ('h264.mkv', 'libx264', 0.0, 0.5), 'h264_mov': ('h264.mov', 'libx264', 0.6, 1.0),
    'vfr_mp4': ('vfr.mp4', 'libx264', 0.8, 1.35), 'phone_mp4': ('phone.mp4', 'libx264', 0.1, 0.5),
}


def test_every_codec_container_rate_and_rotation_is_read(data):
    from conftest import encode_video, garble_video
    videos = data / 'codec_videos'
    videos.mkdir()
    for name, (file, codec, _, _) in CODEC_SEGMENTS.items():
        encode_video(videos / file, codec, 40, gop=15, times=VFR_TIMES if name == 'vfr_mp4' else None,
                     rotation=90 if name == 'phone_mp4' else 0)
    garble_video(videos / 'phone.mp4', videos / 'garbage.mp4')
    # the same name in two containers (av1.mp4, av1.webm): the manifest names the file
    rows = [f'{file}\t{name}\t{start}\t{end}' for name, (file, _, start, end) in CODEC_SEGMENTS.items()]
    (data / 'codecs.tsv').write_text('VIDEO_NAME\tSENTENCE_NAME\tSTART\tEND\n' + '\n'.join(rows)
                                     + '\ngarbage.mp4\tundecodable\t0\t1\n')
    npy = data / 'npy_codecs'
    result = run_stage(options(data, npy, CSV_FILE=data / 'codecs.tsv', VIDEO_DIR=videos))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    files = npy_files(npy)
    assert set(files) == set(CODEC_SEGMENTS)
    for name, (file, codec, start, end) in CODEC_SEGMENTS.items():
        times = VFR_TIMES if name == 'vfr_mp4' else None
        assert len(files[name]) == len(sample_frames(30.0, start, end, 24.0, 1, times)), name
        assert files[name].shape[1:] == (85, 4) and np.isfinite(files[name]).all()
    # the variable rate: the 30 fps frames from 0.8 s thinned to 24 fps, then every 10 fps frame
    assert len(files['vfr_mp4']) == len(sample_frames(30.0, 0.8, 1.0, 24.0)) + 4
    ledger = read_ledgers(npy)
    assert ledger['av1_webm'].reader == 'pyav av1' and ledger['vp9_webm'].reader == 'pyav vp9'
    assert ledger['hevc_mp4'].reader == 'pyav hevc' and ledger['h264_mkv'].reader == 'pyav h264'
    assert 'av1_mp4: ' in out and '[read by pyav av1]' in out
    assert ledger['undecodable'].reason.startswith('video unreadable: garbage.mp4: codec h264, ')
    assert 'Skipped (video unreadable): 1' in out
