"""Start-up at scale: the manifest reader, one listing per folder, probes in parallel, log progress."""
import io

import pytest
from conftest import write_video
from test_stage_units import settings

from signpose.config import Options
from signpose.data.manifest import Segment, read_manifest
from signpose.data.tasks import FPS_OUT_OF_RANGE, VIDEO_MISSING, VIDEO_UNREADABLE, plan_tasks
from signpose.data.video import VIDEO_EXTENSIONS, VideoFinder, find_video
from signpose.run.progress import LogProgress, progress_for, progress_line


def test_bad_rows_carry_their_line_in_the_file(tmp_path):
    path = tmp_path / 'm.tsv'
    path.write_bytes(b'\xef\xbb\xbfVIDEO_NAME\tSENTENCE_NAME\tSTART\tEND\r\n'
                     b'v1\ts1\t1\t2\r\n'
                     b'\r\n'
                     b'v1\ts2\t1\t2\textra\r\n'
                     b'v1\ts3\t1\r\n'
                     b'\t\t\t\r\n'
                     b'v2\ts4\t0\t1')
    segments, bad = read_manifest(path)
    assert segments == [Segment('v1', 's1', 1.0, 2.0), Segment('v2', 's4', 0.0, 1.0)]
    assert [(b.line, b.reason) for b in bad] == [
        (4, "5 tab-separated fields, not the header's"), (5, 'START/END not numeric'),
        (6, 'missing VIDEO_NAME or SENTENCE_NAME')]


def test_the_folder_listing_finds_what_find_video_finds(tmp_path):
    (tmp_path / 'sub').mkdir()
    for name in ('a.mp4', 'b.webm', 'b.mkv', 'c.MP4', 'd.avi', 'e.txt', 'sub/f.mp4'):
        (tmp_path / name).write_bytes(b'x')
    (tmp_path / 'g.mov').mkdir()  # a folder is not a video
    finder = VideoFinder(tmp_path)
    for name in ('a', 'a.mp4', 'b', 'c.MP4', 'c', 'd', 'e', 'e.txt', 'g', 'sub/f', 'nothing'):
        assert finder.find(name) == find_video(tmp_path, name), name
    assert finder.find('b') == tmp_path / f'b{[e for e in VIDEO_EXTENSIONS if e in (".webm", ".mkv")][0]}'
    assert VideoFinder(tmp_path / 'absent').find('a') is None


def test_parallel_probing_plans_exactly_what_sequential_probing_plans(tmp_path):
    s = settings(tmp_path)
    videos = tmp_path / 'videos'
    for i in range(6):
        write_video(videos / f'v{i}.mp4', 12, 24.0 + i, seed=i)
    write_video(videos / 'slow.mkv', 10, 10.0, codec='MJPG')
    (videos / 'broken.webm').write_bytes(b'\x1a\x45\xdf\xa3' + b'\x00' * 200)
    (videos / 'empty.mp4').write_bytes(b'')
    names = [f'v{i}' for i in range(6)] + ['slow', 'broken', 'empty', 'gone']
    segments = [Segment(name, f'{name}_{j}', j * 0.2, j * 0.2 + 0.3) for name in names for j in range(2)]
    o = Options.of(s)
    plan = (segments, o.video_dir, o.sampling, o.output, o.engine.persons.multi_person)
    sequential = plan_tasks(*plan, probe_threads=1)
    parallel = plan_tasks(*plan, probe_threads=8)
    assert parallel == sequential
    tasks, skipped, counts = parallel
    assert [t.video_name for t in tasks] == [f'v{i}' for i in range(6)]
    assert counts[VIDEO_UNREADABLE] == 4 and counts[FPS_OUT_OF_RANGE] == 2 and counts[VIDEO_MISSING] == 2
    unreadable = [o.reason for o in skipped if o.reason.startswith(VIDEO_UNREADABLE)]
    assert any('broken.webm' in r for r in unreadable) and any('empty.mp4' in r for r in unreadable)


def test_a_log_gets_a_progress_line_per_interval_never_a_redraw(capsys):
    now = [0.0]
    log = io.StringIO()
    progress = LogProgress(10, log, interval=60, clock=lambda: now[0])
    for step in range(10):
        now[0] += 25
        progress.line(f'[{step + 1}/10] s{step}: 1 frames')
        progress.advance()
    progress.close()
    lines = log.getvalue().splitlines()
    assert lines == [progress_line(3, 10, 75), progress_line(6, 10, 150), progress_line(9, 10, 225)]
    assert lines[0] == 'Progress: 3/10 segments (30.0%), 2.4 segments/min, about 2 min 55 s left'
    out = capsys.readouterr().out
    assert out.splitlines() == [f'[{i + 1}/10] s{i}: 1 frames' for i in range(10)]
    assert '\r' not in out + log.getvalue() and all(line.strip() for line in out.splitlines())


def test_a_bar_only_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert isinstance(progress_for(5, io.StringIO()), LogProgress)
    bar = progress_for(5, Terminal())
    assert not isinstance(bar, LogProgress)
    bar.close()


@pytest.mark.parametrize('seconds, text', [(5, '5 s'), (65, '1 min 05 s'), (3 * 3600 + 120, '3 h 02 min')])
def test_time_left_reads_naturally(seconds, text):
    from signpose.run.progress import duration
    assert duration(seconds) == text
