"""One bad input costs only itself: a worker killed in the middle of a video, a stage killed twice on
one video, names no file can have, a VIDEO_NAME outside VIDEO_DIR, a folder in the way of one
segment's file, an mmcv op this install lacks, a checkpoint that does not fit. The real script
as a subprocess, real worker processes, seeded checkpoints (conftest), short segments."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, SCRIPT, kill_when_written, options, run_stage

from signpose.config import load_settings, value_problems
from signpose.data.manifest import read_manifest
from signpose.data.video import BoundedQueue, prefetch
from signpose.output.ledger import ENDED, STARTED, STOPPED, read_ledger_state, read_ledgers, stage_crashes

HEADER = 'VIDEO_NAME\tSENTENCE_NAME\tSTART\tEND\n'
# three segments of one video (about 7 frames each), then one of another
SHORT = {'p_a': ('v30', 0.0, 0.3), 'p_b': ('v30', 0.4, 0.7), 'p_c': ('v30', 0.8, 1.1), 'p_d': ('v25', 0.2, 0.5)}
KILLED = 'worker died: signal 9 (SIGKILL)'


def write_manifest(path: Path, rows) -> Path:
    path.write_text(HEADER + ''.join(f'{v}\t{s}\t{a}\t{b}\n' for v, s, a, b in rows), encoding='utf-8')
    return path


def short_options(data, npy, **extra):
    csv = write_manifest(data / 'short.tsv', [(v, s, a, b) for s, (v, a, b) in SHORT.items()])
    return options(data, npy, CSV_FILE=csv, **extra)


def file_bytes(folder: Path) -> dict:
    return {p.stem: p.read_bytes() for p in sorted(folder.glob('*.npy'))}


def error_lines(text: str) -> list:
    return [line for line in text.splitlines() if line.startswith('ERROR')]


def workers_of(pid: int) -> list:
    """The stage's worker processes: its children started by multiprocessing's spawn."""
    found = []
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / 'stat').read_text().rsplit(')', 1)[1].split()[1])
            command = (entry / 'cmdline').read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid and b'spawn_main' in command and b'resource_tracker' not in command:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope='session')
def inline_run(data):
    """The short segments in the stage's own process (EXECUTOR='inline'): the reference bytes."""
    npy = data / 'npy_poison_inline'
    result = run_stage(short_options(data, npy, EXECUTOR='inline'))
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'Loaded pose model' in result.stdout
    assert set(file_bytes(npy)) == set(SHORT)
    return npy


# ------------------------------------------------------------------ units
def test_the_decode_queue_is_bounded_in_bytes_and_passes_one_frame_above_the_budget():
    queue = BoundedQueue(size=64, max_bytes=100)
    assert queue.has_room(1000)  # empty: even a frame above the budget (one at a time)
    queue.put('big', 1000)
    assert not queue.has_room(1)
    assert queue.get() == 'big' and queue.has_room(60)
    queue.put('a', 60)
    assert queue.has_room(40) and not queue.has_room(41)
    frames = BoundedQueue(size=2)  # without a budget: the frame count alone
    frames.put('a', 10**9)
    frames.put('b', 10**9)
    assert not frames.has_room(0)
    items = [b'x' * n for n in (10, 300, 5, 5, 80, 1)]
    assert list(prefetch(iter(items), 64, 100, len)) == items  # order and content kept


def test_a_video_counts_the_runs_the_stage_died_on_it():
    assert stage_crashes([(1, 0, 0, STARTED)]) == 1
    assert stage_crashes([(1, 0, 0, STARTED), (2, 0, 1, STARTED)]) == 2
    assert stage_crashes([(1, 0, 0, STARTED), (2, 0, 1, STOPPED), (3, 0, 2, STARTED), (4, 0, 3, STOPPED)]) == 0
    assert stage_crashes([(1, 0, 0, STARTED), (2, 0, 1, STARTED), (3, 0, 2, ENDED)]) == 0  # done after all
    assert stage_crashes([(1, 0, 0, STARTED), (2, 0, 1, STARTED), (3, 0, 2, STOPPED)]) == 1


def test_inline_is_one_process_only():
    s = load_settings().replace(EXECUTOR='inline', MAX_WORKERS=2)
    [problem] = value_problems(s)
    assert problem.startswith("EXECUTOR='inline' runs in the stage's own process: set MAX_WORKERS=1")
    assert not value_problems(s.replace(MAX_WORKERS=1))


def test_the_manifest_reader_refuses_names_no_file_can_have(tmp_path):
    ok = 'n' * 236  # its longest file, the temporary .pose, is 255 bytes
    rows = [('v', ok, 0, 1), ('v', 'n' * 237, 0, 1), ('v', 'é' * 119, 0, 1), ('v', 'bell\x07', 0, 1),
            ('v', 'nul\x00x', 0, 1), ('v', 'a/b', 0, 1), ('../v', 'up', 0, 1), ('sub/v', 'down', 0, 1),
            ('..', 'dots', 0, 1), ('/abs/v', 'absolute', 0, 1), ('v\x1b', 'escape', 0, 1), ('v', 'fine', 0, 1)]
    segments, bad = read_manifest(write_manifest(tmp_path / 'm.tsv', rows))
    assert [s.sentence_name for s in segments] == [ok, 'fine']
    reasons = {row.line: row.reason for row in bad}
    assert 'is 237 bytes in UTF-8: too long for a file name (at most 236' in reasons[3]
    assert 'is 238 bytes in UTF-8' in reasons[4]  # é is two bytes
    assert 'has a control character' in reasons[5] and 'has a control character' in reasons[6]
    assert 'not a safe file name' in reasons[7]
    for line in (8, 9, 10, 11):
        assert reasons[line].startswith('VIDEO_NAME ') and ' is outside VIDEO_DIR' in reasons[line]
    assert reasons[12].startswith("VIDEO_NAME 'v\\x1b' has a control character")


# ------------------------------------------------------------------ the real script
def test_a_worker_killed_mid_video_fails_that_video_only_and_is_replaced(data, inline_run, tmp_path):
    npy = tmp_path / 'npy'
    args = short_options(data, npy)
    stage = subprocess.Popen([sys.executable, SCRIPT, *args], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 600
    while 'p_a' not in read_ledgers(npy) and time.time() < deadline and stage.poll() is None:
        time.sleep(0.02)  # the stage has the first segment of v30: its worker is on p_b
    [worker] = workers_of(stage.pid)
    os.kill(worker, signal.SIGKILL)
    out, _ = stage.communicate(timeout=600)
    assert stage.returncode == 1, out  # some segment failed
    ledger = read_ledgers(npy)
    assert ledger['p_a'].status == 'written' and ledger['p_d'].status == 'written'  # the run went on
    assert [ledger[s].reason for s in ('p_b', 'p_c')] == [KILLED, KILLED]
    assert 'Worker died (signal 9 (SIGKILL)) on v30; a new worker started' in out
    assert 'Failed (worker died): 2' in out and 'Workers died and were replaced: 1' in out
    assert 'Traceback' not in out
    assert read_ledger_state(npy)[1] == {}  # a dead worker is not a crash of the stage

    again = run_stage(args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert 'Skipped (output exists): 2' in again.stdout
    assert file_bytes(npy) == file_bytes(inline_run)  # byte for byte, worker or inline, replaced or not


def test_a_video_the_stage_died_on_twice_is_skipped_until_asked_for(data, inline_run, tmp_path):
    npy = tmp_path / 'npy'
    args = short_options(data, npy)
    kill_when_written(args, npy, 'p_a.npy')  # the stage itself killed while on v30, twice
    kill_when_written(args, npy, 'p_b.npy')
    assert read_ledger_state(npy)[1] == {'v30': 2}

    third = run_stage(args)
    assert third.returncode == 0, third.stdout + third.stderr
    assert 'Skipped (crashed the stage twice): 1' in third.stdout
    assert 'RETRY_CRASHED=True' in third.stdout.split('Done.')[1]  # the summary says how to retry
    reason = read_ledgers(npy)['p_c'].reason
    assert reason.startswith('crashed the stage twice (the stage died while on this video in 2 runs; ')
    assert reason.endswith('to try it again: --cfg-options RETRY_CRASHED=True)')
    assert read_ledgers(npy)['p_d'].status == 'written'  # the run went on

    retried = run_stage(short_options(data, npy, RETRY_CRASHED=True))
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert read_ledgers(npy)['p_c'].status == 'written' and read_ledger_state(npy)[1] == {}
    assert file_bytes(npy) == file_bytes(inline_run)


def test_bad_names_are_bad_rows_the_others_are_written(data, tmp_path):
    videos = tmp_path / 'videos'
    videos.mkdir()
    os.symlink(data / 'videos' / 'v25.mp4', videos / 'linked.mp4')  # a link out of VIDEO_DIR: the user's choice
    (tmp_path / 'outside.mp4').write_bytes((data / 'videos' / 'v30.mp4').read_bytes())
    longest = 'n' * 236
    csv = write_manifest(tmp_path / 'names.tsv', [
        ('linked', longest, 0.2, 0.4), ('linked', 'n' * 237, 0.2, 0.4), ('linked', 'bell\x07', 0.2, 0.4),
        ('linked', 'a/b', 0.2, 0.4), ('../outside', 'escape', 0.2, 0.4), ('..', 'dots', 0.2, 0.4)])
    npy = tmp_path / 'npy'
    result = run_stage(options(data, npy, CSV_FILE=csv, VIDEO_DIR=videos, OUTPUT_FORMATS='[npy,pose]'))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert 'Manifest: 6 rows, 5 bad' in out and 'Tasks: 1 segments to process in 1 videos' in out
    assert "bad row (line 6): VIDEO_NAME '../outside' is outside VIDEO_DIR" in out
    assert "bad row (line 7): VIDEO_NAME '..' is outside VIDEO_DIR" in out
    assert 'is 237 bytes in UTF-8: too long for a file name' in out
    assert (npy / f'{longest}.npy').is_file() and (npy / f'{longest}.pose').is_file()
    assert set(read_ledgers(npy)) == {longest}  # nothing else was read or recorded


def test_a_folder_in_the_way_of_one_file_fails_that_segment_only(data, inline_run, tmp_path):
    npy = tmp_path / 'npy'
    (npy / 'p_b.npy').mkdir(parents=True)
    args = short_options(data, npy)
    result = run_stage(args)
    assert result.returncode == 1, result.stdout + result.stderr
    ledger = read_ledgers(npy)
    assert {s for s, o in ledger.items() if o.status == 'written'} == {'p_a', 'p_c', 'p_d'}
    assert ledger['p_b'].reason.startswith(f'write error: cannot write {npy / "p_b.npy"} (Is a directory, EISDIR)')
    assert 'Failed (write error): 1' in result.stdout and 'Traceback' not in result.stdout + result.stderr
    (npy / 'p_b.npy').rmdir()
    again = run_stage(args)
    assert again.returncode == 0 and 'Skipped (output exists): 3' in again.stdout
    assert file_bytes(npy) == file_bytes(inline_run)


def test_a_checkpoint_that_does_not_fit_is_one_line_before_any_video(data, tmp_path):
    npy = tmp_path / 'npy'
    result = run_stage(short_options(data, npy, POSE_MODEL_CHECKPOINT=data / 'det.pth', MAX_WORKERS=2))
    assert result.returncode == 2, result.stdout + result.stderr
    [error] = error_lines(result.stderr)  # two workers failed to load: one line
    assert 'does not fit its config' in error and 'Traceback' not in result.stderr
    assert read_ledger_state(npy) == ({}, {}) and '[1/' not in result.stdout  # no video started


def test_an_mmcv_op_missing_in_a_worker_ends_the_run_with_one_line(data, tmp_path):
    from signpose.install import mmcv_lite
    if not mmcv_lite.is_lite():
        pytest.skip("mmcv's compiled ops are installed: every op is there")
    (tmp_path / 'soft.py').write_text(f"_base_ = {str(data / 'det1.py')!r}\n"
                                      "model = dict(test_cfg=dict(nms=dict(type='soft_nms', iou_threshold=0.6)))\n")
    npy = tmp_path / 'npy'
    result = run_stage(short_options(data, npy, DET_MODEL_CONFIG=tmp_path / 'soft.py'))
    assert result.returncode == 2, result.stdout + result.stderr
    [error] = error_lines(result.stderr)
    # found when the worker loads the detector (its config asks for soft_nms), before any video
    assert error.startswith('ERROR: DET_MODEL_CONFIG ') and 'soft_nms' in error, error
    assert 'MMCV_OPS=1 bash setup.sh' in error
    assert 'Traceback' not in result.stderr and not list(npy.glob('*.npy'))
    assert read_ledger_state(npy)[1] == {}  # stopped cleanly: not a crash on that video
