"""Faults a long run meets: a full or read-only output disk, a ledger line cut by a crash.

The disk-full cases use a real small filesystem (a tmpfs mounted for the test, so they need root,
as CI has); where mounting is not allowed they skip.
"""
import errno
import json
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from conftest import GOOD, npy_files, options, run_stage
from test_stage_units import FakeInference, _indexed_video, process_video, settings

from signpose.data.manifest import Segment
from signpose.data.tasks import VideoTask
from signpose.run.work import outcomes_until_stop
from signpose.contract.outcomes import Outcome
from signpose.output.ledger import Ledger, append_on_fresh_line, read_ledgers
from signpose.output.storage import OutputError, output_error

CONTINUES = 'free space, then run the same command: it continues'


@contextmanager
def small_filesystem(path: Path, size: str = '1m'):
    """A tmpfs of ``size`` mounted at ``path`` for the block; skips where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f'cannot mount a small filesystem here: {mounted.stderr.strip() or mounted.returncode}')
    try:
        yield path
    finally:
        subprocess.run(['umount', '-l', str(path)], check=False)


def leave_free(folder: Path, free: int) -> Path:
    """Fill the filesystem of ``folder`` with a file until about ``free`` bytes are left."""
    filler = folder / 'filler.bin'
    size = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize - free
    with open(filler, 'wb') as f:
        f.write(b'\0' * max(0, size))
    return filler


def temporary_files(folder: Path) -> list:
    return [p.name for p in folder.iterdir() if p.name.startswith('.') or p.name.endswith('.tmp')]


def error_lines(text: str) -> list:
    return [line for line in text.splitlines() if line.startswith('ERROR')]


# ------------------------------------------------------------------ units
def test_storage_errors_are_told_apart_from_a_segment_error(tmp_path):
    full = output_error(OSError(errno.ENOSPC, 'No space left on device'), tmp_path / 'a.npy')
    assert full.out_of_space and full.folder == str(tmp_path) and full.file == 'a.npy'
    assert str(tmp_path) in full.message() and 'free' in full.message() and CONTINUES in full.message()
    quota = output_error(OSError(errno.EDQUOT, 'Disk quota exceeded'), tmp_path / 'a.npy')
    assert quota.out_of_space and quota.message().startswith('disk quota exceeded')
    for code in (errno.EACCES, errno.EROFS):
        denied = output_error(OSError(code, os.strerror(code)), tmp_path / 'a.npy')
        assert not denied.out_of_space and os.strerror(code) in denied.message()
        assert str(tmp_path) in denied.message() and 'choose another NPY_DIR' in denied.message()
    assert output_error(OSError(errno.ENAMETOOLONG, 'File name too long'), tmp_path / 'a.npy') is None
    assert output_error(ValueError('no'), tmp_path / 'a.npy') is None
    import pickle  # it travels from worker processes and Ray actors
    again = pickle.loads(pickle.dumps(full))
    assert (again.folder, again.code, again.file) == (full.folder, full.code, full.file)


def test_engine_stops_at_a_full_disk_keeping_what_it_wrote(tmp_path):
    npy = tmp_path / 'npy'
    with small_filesystem(npy):
        s = settings(tmp_path)
        info = _indexed_video(tmp_path, frames=90)
        # each segment takes 6 or 7 pages of 4 KiB: room for one, not two
        segments = [Segment('idx', name, start, start + 0.8) for name, start in (('a', 0.0), ('b', 1.0), ('c', 2.0))]
        leave_free(npy, 40 * 1024)
        outcomes, stop = outcomes_until_stop(process_video(VideoTask('idx', info, segments), FakeInference(lambda i: 1), s))
        assert isinstance(stop, OutputError) and stop.out_of_space and stop.folder == str(npy)
        assert [o.sentence for o in outcomes] == ['a'] and outcomes[0].status == 'written'
        assert np.load(npy / 'a.npy').shape[0] == outcomes[0].frames
        assert sorted(p.name for p in npy.iterdir()) == ['a.npy', 'filler.bin']  # no temporary file


def test_a_ledger_cut_mid_line_loses_no_later_record(tmp_path):
    ledger = Ledger(tmp_path / 'ledger.jsonl')
    ledger.record(Outcome('s1', 'v', 'written', '', 10, 'p'))
    with open(tmp_path / 'ledger.jsonl', 'a') as f:
        f.write('{"sentence": "s2", "video": "v", "sta')  # a crash mid-line
    Ledger(tmp_path / 'ledger.jsonl').record(Outcome('s3', 'v', 'skipped', 'multiple persons detected'))
    latest = read_ledgers(tmp_path)
    assert set(latest) == {'s1', 's3'} and latest['s3'].is_final()
    lines = (tmp_path / 'ledger.jsonl').read_text().splitlines()
    assert len(lines) == 3 and lines[1].endswith('"sta') and json.loads(lines[2])['sentence'] == 's3'


def test_skips_are_recorded_in_batches_of_one_write_and_fsync(tmp_path, monkeypatch):
    fsyncs = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, 'fsync', lambda fd: fsyncs.append(fd) or real_fsync(fd))
    ledger = Ledger(tmp_path / 'ledger.jsonl')
    skips = [Outcome(f's{i}', 'v', 'skipped', 'video missing: no v') for i in range(25)]
    ledger.record_all(skips, batch=10)
    assert len(fsyncs) == 3
    assert len((tmp_path / 'ledger.jsonl').read_text().splitlines()) == 25
    ledger.record_all(skips, batch=10)  # nothing new: nothing written
    assert len(fsyncs) == 3
    assert Ledger(tmp_path / 'ledger.jsonl', read_ledgers(tmp_path)).known == {o.sentence: o for o in skips}


def test_a_batch_that_cannot_be_written_is_cut_back_off_the_ledger(tmp_path, monkeypatch):
    path = tmp_path / 'ledger.jsonl'
    Ledger(path).record(Outcome('s0', 'v', 'written', '', 3, 'p'))
    before = path.read_bytes()
    real_write = os.write

    def half_then_full(fd, data):  # the disk fills up in the middle of the batch
        if len(data) > 100:
            return real_write(fd, bytes(data[:len(data) // 2]))
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(os, 'write', half_then_full)
    ledger = Ledger(path, read_ledgers(tmp_path))
    with pytest.raises(OutputError) as caught:
        ledger.record_all([Outcome(f's{i}', 'v', 'skipped', 'too short') for i in range(1, 20)])
    assert caught.value.out_of_space and caught.value.file == 'ledger.jsonl'
    assert path.read_bytes() == before  # the batch is not in; the rerun decides those again
    assert set(ledger.known) == {'s0'}


def test_append_starts_on_a_fresh_line_only_when_needed(tmp_path):
    path = tmp_path / 'l.jsonl'
    append_on_fresh_line(path, b'a\n')
    append_on_fresh_line(path, b'b\n')
    path.write_bytes(path.read_bytes() + b'cut')
    append_on_fresh_line(path, b'c\n')
    assert path.read_bytes() == b'a\nb\ncut\nc\n'


# ------------------------------------------------------------------ the real script
@pytest.mark.parametrize('workers', [1, 2])
def test_a_full_disk_stops_the_run_and_the_same_command_finishes_it(data, first_run, tmp_path, workers):
    mount = tmp_path / 'disk'
    with small_filesystem(mount):
        npy = mount / 'npy'
        npy.mkdir()
        filler = leave_free(mount, 56 * 1024)  # the run record, the ledger and one or two segments
        args = options(data, npy, MAX_WORKERS=workers)
        result = run_stage(args)
        out = result.stdout + result.stderr
        assert result.returncode == 3, out
        [error] = error_lines(result.stderr)
        assert error.startswith(f'ERROR: out of space in {npy} (') and ' free) while writing ' in error
        assert error.endswith(CONTINUES)
        assert 'WARNING: ' in result.stderr and 'the run will stop when it is full' in result.stderr
        assert 'Stopped: the output folder cannot take more' in result.stdout and 'Traceback' not in out
        written = set(npy_files(npy))
        assert 0 < len(written) < len(GOOD)
        assert not temporary_files(npy)
        ledger = read_ledgers(npy)
        assert {name for name, o in ledger.items() if o.status == 'written'} == written  # recorded intact
        assert not [o for o in ledger.values() if o.status == 'failed']
        expected = npy_files(first_run[0])
        for name, array in npy_files(npy).items():
            np.testing.assert_allclose(array, expected[name], rtol=0, atol=1e-5)

        filler.unlink()  # free space, then run the same command
        again = run_stage(args)
        assert again.returncode == 0, again.stdout + again.stderr
        assert f'Skipped (output exists): {len(written)}' in again.stdout
        assert set(npy_files(npy)) == set(GOOD) and not temporary_files(npy)


def test_a_full_disk_while_recording_the_plan_stops_before_any_work(data, tmp_path):
    mount = tmp_path / 'disk'
    with small_filesystem(mount, '64k'):
        npy = mount / 'npy'
        npy.mkdir()
        leave_free(mount, 0)
        result = run_stage(options(data, npy))
        assert result.returncode == 3, result.stdout + result.stderr
        [error] = error_lines(result.stderr)
        assert error.startswith(f'ERROR: out of space in {npy} (0 bytes free) while writing ledger.jsonl')
        assert 'Tasks:' not in result.stdout and 'Traceback' not in result.stderr
        assert not (npy / 'ledger.jsonl').exists() or (npy / 'ledger.jsonl').stat().st_size == 0


def test_a_read_only_output_folder_is_one_line_before_any_work(data, tmp_path):
    mount = tmp_path / 'disk'
    with small_filesystem(mount):
        (mount / 'npy').mkdir()
        subprocess.run(['mount', '-o', 'remount,ro', str(mount)], check=True)
        for npy in (mount / 'npy', mount / 'new' / 'npy'):
            result = run_stage(options(data, npy))
            assert result.returncode == 2, result.stdout + result.stderr
            [error] = error_lines(result.stderr)
            assert error.startswith(f'ERROR: cannot write to {npy} (Read-only file system)')
            assert 'Manifest:' not in result.stdout and 'Traceback' not in result.stderr
