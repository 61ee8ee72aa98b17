"""Unit tests of the stage's logic: sampler, manifest, tasks, frame logic, outputs."""
import os

import numpy as np
import pytest
from conftest import write_video

from signpose.api import Extractor
from signpose.config import Options, Settings, load_settings
from signpose.data.manifest import ManifestError, Segment, read_manifest
from signpose.data.sampling import sample_frames, segment_frames
from signpose.data.shards import assign_shards, select_shard
from signpose.data.tasks import FPS_OUT_OF_RANGE, OUTPUT_EXISTS, TOO_LONG, TOO_SHORT, VIDEO_MISSING, VIDEO_UNREADABLE, \
    VideoTask, plan_tasks
from signpose.data.video import probe
from tests.support import per_frame_reference
from signpose.contract.outcomes import MULTIPLE_PERSONS, NO_PERSON, Outcome
from signpose.contract.rows import empty_row, pose_row
from signpose.nets.detector import Detections
from signpose.nets.devices import resolve
from signpose.output.files import save_npy_atomic
from signpose.output.ledger import Ledger, read_ledgers
from signpose.run import work


def settings(tmp_path, **overrides):
    s = load_settings()
    values = dict(vars(s), NPY_DIR=str(tmp_path / 'npy'), VIDEO_DIR=str(tmp_path / 'videos'),
                  DET_BATCH_SIZE=1, POSE_BATCH_SIZE=3, DECODE_QUEUE=4)
    values.update(overrides)
    (tmp_path / 'npy').mkdir(exist_ok=True)
    (tmp_path / 'videos').mkdir(exist_ok=True)
    return Settings(**values)


# ------------------------------------------------------------------ sampling
def test_a_3s_segment_of_a_30fps_video_gives_72_frames_at_24fps():
    assert len(sample_frames(30.0, 10.0, 13.0, 24.0)) == 72


def test_segment_frames_are_those_shown_in_start_end():
    assert list(segment_frames(30.0, 1.0, 1.1)) == [30, 31, 32]  # 1.1 * 30 = 33 is excluded
    assert list(segment_frames(25.0, 0.0, 0.2)) == [0, 1, 2, 3, 4]
    assert list(segment_frames(30.0, 0.01, 0.05)) == [1]


def test_reduce_keeps_a_frame_each_time_the_sum_reaches_one():
    frames = sample_frames(30.0, 0.0, 1.0, 24.0)
    assert len(frames) == 24
    # 0.8 per frame: the 1st frame reaches 0.8 (dropped), the 2nd 1.6 (kept), ...
    assert frames[:5] == [1, 2, 3, 4, 6]
    assert sample_frames(24.0, 0.0, 1.0, 24.0) == list(range(24))  # nothing to drop
    assert sample_frames(60.0, 0.0, 1.0, 24.0) == [i for i in range(60) if (i + 1) * 2 // 5 > i * 2 // 5]


def test_sampler_restarts_at_each_segment():
    a = sample_frames(30.0, 0.0, 0.5, 24.0)
    b = sample_frames(30.0, 0.5, 1.0, 24.0)
    assert a[0] - 0 == b[0] - 15


def test_skip_mode_takes_every_nth_frame():
    assert sample_frames(30.0, 0.0, 1.0, None, skip=3) == list(range(0, 30, 3))
    assert sample_frames(30.0, 0.0, 1.0, None, skip=1) == list(range(30))


# ------------------------------------------------------------------ manifest
def test_manifest_rows_good_and_bad(tmp_path):
    path = tmp_path / 'm.tsv'
    path.write_text('VIDEO_NAME\tSENTENCE_NAME\tSTART\tEND\n'
                    'v1\ts1\t1.0\t2.5\n'
                    'v1\ts2\tabc\t2\n'
                    '\ts3\t0\t1\n'
                    'v2\ts4\t-1\t1\n'
                    'v2\ts5\t3\t3\n'
                    'v2\ts1\t0\t1\n'
                    'v2\t../evil\t0\t1\n'
                    'v2\ts6\t0\t1\textra\n'
                    'v2 \t s7 \t 0.5 \t 1 \n')
    segments, bad = read_manifest(path)
    assert segments == [Segment('v1', 's1', 1.0, 2.5), Segment('v2', 's7', 0.5, 1.0)]
    reasons = sorted(b.reason.split(' ')[0] for b in bad)
    assert len(bad) == 7
    assert any('not numeric' in b.reason for b in bad) and any('negative' in b.reason for b in bad)
    assert any('end <= start' in b.reason for b in bad) and any('duplicate' in b.reason for b in bad)
    assert any('safe file name' in b.reason for b in bad) and any('fields' in b.reason for b in bad)
    assert reasons  # every bad row has a reason


def test_manifest_prefers_realigned_times(tmp_path):
    path = tmp_path / 'h2s.csv'
    path.write_text('VIDEO_ID\tVIDEO_NAME\tSENTENCE_ID\tSENTENCE_NAME\tSTART\tEND\tSTART_REALIGNED\t'
                    'END_REALIGNED\tSENTENCE\n'
                    'id\tv\tsid\tv_0-1\t1.0\t2.0\t1.5\t2.5\tHello "world", it\'s me\n')
    segments, bad = read_manifest(path)
    assert segments == [Segment('v', 'v_0-1', 1.5, 2.5)] and not bad


def test_manifest_errors_name_the_file(tmp_path):
    with pytest.raises(ManifestError, match='not found'):
        read_manifest(tmp_path / 'nope.tsv')
    (tmp_path / 'cols.tsv').write_text('A\tB\n1\t2\n')
    with pytest.raises(ManifestError, match='needs the columns'):
        read_manifest(tmp_path / 'cols.tsv')


# ------------------------------------------------------------------ tasks
def test_plan_tasks_skips_with_reasons(tmp_path):
    s = settings(tmp_path)
    write_video(tmp_path / 'videos' / 'v30.mp4', 30, 30.0)
    write_video(tmp_path / 'videos' / 'v10.mkv', 10, 10.0, codec='MJPG')
    (tmp_path / 'videos' / 'broken.webm').write_bytes(b'\x00' * 100)
    save_npy_atomic(tmp_path / 'npy' / 'done.npy', np.zeros((1, 85, 4), np.float32))
    segments = [Segment('v30', 'done', 0, 1), Segment('v30', 'short', 0, 0.1), Segment('v30', 'long', 0, 61),
                Segment('gone', 'missing', 0, 1), Segment('broken', 'bad', 0, 1), Segment('v10', 'slow', 0, 1),
                Segment('v30', 'b', 0.5, 1), Segment('v30', 'a', 0.0, 0.5), Segment('v30', 'final', 0, 1)]
    ledger = {'final': Outcome('final', 'v30', 'skipped', MULTIPLE_PERSONS)}
    o = Options.of(s)
    tasks, skipped, counts = plan_tasks(segments, o.video_dir, o.sampling, o.output, o.engine.persons.multi_person,
                                        ledger)
    assert [t.video_name for t in tasks] == ['v30']
    assert [seg.sentence_name for seg in tasks[0].segments] == ['a', 'b']  # start order
    assert tasks[0].info.fps == pytest.approx(30.0) and tasks[0].info.width == 160
    assert counts[OUTPUT_EXISTS] == 1 and counts[TOO_SHORT] == 1 and counts[TOO_LONG] == 1
    assert counts[VIDEO_MISSING] == 1 and counts[VIDEO_UNREADABLE] == 1 and counts[FPS_OUT_OF_RANGE] == 1
    assert {o.sentence for o in skipped} == {'short', 'long', 'missing', 'bad', 'slow'}


# ------------------------------------------------------------------ landmarks
def test_pose_row_normalises_clips_and_orders():
    s = load_settings()
    k = 133
    xy = np.stack([np.arange(k) * 2.0, np.arange(k) * 1.0], axis=1)
    xy[5] = [-10, 500]  # outside the frame: clipped
    z = np.linspace(-1, 1, k)
    scores = np.linspace(-0.5, 3.98, k)
    row = pose_row(xy, z, scores, 200, 100, s.COCO_WHOLEBODY_IDX, add_visible=True)
    assert row.shape == (85, 4) and row.dtype == np.float32
    idx = np.array(s.COCO_WHOLEBODY_IDX)
    np.testing.assert_allclose(row[1:, 0], np.clip(xy[idx[1:], 0] / 200, 0, 1), rtol=1e-6)
    assert tuple(row[0, :2]) == (0.0, 1.0)  # keypoint 5 clipped
    np.testing.assert_allclose(row[:, 2], z[idx], rtol=1e-6)  # z is kept in metres, unclipped
    assert row[:, 3].min() >= 0 and row[:, 3].max() == 1.0
    assert pose_row(xy, z, scores, 200, 100, s.COCO_WHOLEBODY_IDX, add_visible=False).shape == (85, 3)
    assert not empty_row(85, True).any() and empty_row(85, False).shape == (85, 3)


def test_keypoint_index_order_is_the_design():
    idx = list(load_settings().COCO_WHOLEBODY_IDX)  # a tuple in the typed settings
    assert idx[:6] == [5, 6, 7, 8, 11, 12]
    assert idx[6:15] == list(range(23, 40, 2))
    assert idx[15:25] == list(range(40, 50))
    assert idx[25:29] == [52, 54, 56, 58]
    assert idx[29:43] == [71, 73, 75, 77, 79, 81] + list(range(83, 91))
    assert idx[43:] == list(range(91, 133)) and len(idx) == 85


# ------------------------------------------------------------------ frame logic (fake models)
def process_video(task, networks, s):
    """The stage's engine and writer, with what ``devices.resolve`` decides for ``s``."""
    options = Options.of(s)
    extractor = Extractor.around(networks, options, resolve(options.compute, warn=False))
    return work.process_video(task, extractor, options.output)


def process_video_per_frame(task, models, s):
    """The design's per-frame loop (the reference), with the options of ``s``."""
    return per_frame_reference.process_video_per_frame(task, models, Options.of(s))


class FakeInference:
    """Persons per frame index decided by a script; the pose encodes the frame index. Serves the
    engine (``detector`` / ``estimator``: prepare, then a batched call) and the per-frame loop
    (``detect`` / ``estimate``)."""

    def __init__(self, persons_at):
        self.persons_at = persons_at  # frame index -> number of persons
        self.hands = None  # no hand pass
        self.det_calls, self.pose_calls = [], []
        self.detector = _FakeNetwork(lambda frame: frame, self.detect)
        self.estimator = _FakeNetwork(lambda frame, box: (frame, box),
                                      lambda crops: self.estimate([f for f, _ in crops], [b for _, b in crops]))

    @staticmethod
    def index_of(frame):
        return int(frame[0, 0, 0])

    def detect(self, frames):
        self.det_calls.append(len(frames))
        counts = [self.persons_at(self.index_of(f)) for f in frames]
        return [Detections(np.tile([10, 10, 50, 50], (n, 1)).astype(np.float32), np.full(n, 0.9, np.float32))
                for n in counts]

    def estimate(self, frames, boxes):
        self.pose_calls.append(len(frames))
        out = []
        for f in frames:
            i = self.index_of(f)
            out.append((np.full((133, 2), 50.0), np.full(133, float(i)), np.full(133, 0.5)))
        return out



class _FakeNetwork:
    """The engine's split calls: the host side (``prepare``) and the batched network (call)."""

    def __init__(self, prepare, call):
        self.prepare, self.call = prepare, call

    def __call__(self, prepared):
        return self.call(prepared)


def _indexed_video(tmp_path, frames=45, fps=30.0):
    """A lossless video whose pixel (0, 0) holds the frame index."""
    import cv2
    path = tmp_path / 'videos' / 'idx.avi'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'FFV1'), fps, (100, 100))
    for i in range(frames):
        writer.write(np.full((100, 100, 3), i, dtype=np.uint8))
    writer.release()
    return probe(path)


@pytest.mark.parametrize('process', [process_video, process_video_per_frame])
def test_zero_one_and_two_persons(tmp_path, process):
    s = settings(tmp_path)
    info = _indexed_video(tmp_path)
    task = VideoTask('idx', info, [Segment('idx', 'one', 0.0, 0.5), Segment('idx', 'mixed', 0.5, 1.0),
                                   Segment('idx', 'two', 1.0, 1.5)])

    def persons(i):
        if i >= 30:
            return 2 if i in (40, 41) else 1
        if i >= 15:
            return 0 if i % 2 else 1
        return 1

    outcomes = {o.sentence: o for o in process(task, FakeInference(persons), s)}
    assert outcomes['two'].status == 'skipped' and outcomes['two'].reason == MULTIPLE_PERSONS
    assert not (tmp_path / 'npy' / 'two.npy').exists()
    one = np.load(tmp_path / 'npy' / 'one.npy')
    indices = sample_frames(30.0, 0.0, 0.5, 24.0)
    assert one.shape == (len(indices), 85, 4) and one.dtype == np.float32
    np.testing.assert_array_equal(one[:, 0, 2], indices)  # row t is sampled frame t
    mixed = np.load(tmp_path / 'npy' / 'mixed.npy')
    for row, i in zip(mixed, sample_frames(30.0, 0.5, 1.0, 24.0)):
        assert (not row.any()) if i % 2 else row[0, 2] == i  # no person: an all-zero row
    assert outcomes['one'].frames == len(indices)


def test_segment_without_any_person_is_not_saved(tmp_path):
    s = settings(tmp_path)
    info = _indexed_video(tmp_path)
    task = VideoTask('idx', info, [Segment('idx', 'empty', 0.0, 1.0)])
    [outcome] = process_video(task, FakeInference(lambda i: 0), s)
    assert outcome.status == 'skipped' and outcome.reason == NO_PERSON
    assert not (tmp_path / 'npy' / 'empty.npy').exists()


def test_engine_batches_and_shares_frames_of_overlapping_segments(tmp_path):
    s = settings(tmp_path, DET_BATCH_SIZE=4, POSE_BATCH_SIZE=5, ADD_VISIBLE=False)
    info = _indexed_video(tmp_path)
    task = VideoTask('idx', info, [Segment('idx', 'a', 0.0, 1.0), Segment('idx', 'b', 0.5, 1.5)])
    fake = FakeInference(lambda i: 1)
    outcomes = list(process_video(task, fake, s))
    union = sorted(set(sample_frames(30, 0, 1, 24)) | set(sample_frames(30, 0.5, 1.5, 24)))
    assert sum(fake.det_calls) == len(union)  # each frame detected once for both segments
    assert max(fake.det_calls) == 4 and max(fake.pose_calls) == 5
    for name, (start, end) in {'a': (0, 1), 'b': (0.5, 1.5)}.items():
        array = np.load(tmp_path / 'npy' / f'{name}.npy')
        assert array.shape[2] == 3
        np.testing.assert_array_equal(array[:, 0, 2], sample_frames(30, start, end, 24))
    assert [o.status for o in outcomes] == ['written', 'written']


def test_a_failure_inside_a_video_is_recorded_per_segment(tmp_path):
    s = settings(tmp_path)
    info = _indexed_video(tmp_path)
    task = VideoTask('idx', info, [Segment('idx', 'a', 0.0, 0.5), Segment('idx', 'b', 1.0, 1.4)])

    class Exploding(FakeInference):
        def estimate(self, frames, boxes):
            if any(self.index_of(f) >= 30 for f in frames):
                raise RuntimeError('CUDA error: out of memory')
            return super().estimate(frames, boxes)

    outcomes = {o.sentence: o for o in process_video(task, Exploding(lambda i: 1), s)}
    assert outcomes['a'].status == 'written'
    assert outcomes['b'].status == 'failed' and 'out of memory' in outcomes['b'].reason


def test_video_shorter_than_its_segment(tmp_path):
    s = settings(tmp_path)
    info = _indexed_video(tmp_path, frames=20)
    task = VideoTask('idx', info, [Segment('idx', 'cut', 0.0, 1.0), Segment('idx', 'after', 2.0, 3.0)])
    outcomes = {o.sentence: o for o in process_video(task, FakeInference(lambda i: 1), s)}
    cut = np.load(tmp_path / 'npy' / 'cut.npy')
    assert len(cut) == len([i for i in sample_frames(30, 0, 1, 24) if i < 20])
    assert 'ended early' in outcomes['cut'].reason
    assert outcomes['after'].status == 'skipped' and 'ends before' in outcomes['after'].reason


# ------------------------------------------------------------------ outputs
def test_atomic_save_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / 'x.npy'
    save_npy_atomic(target, np.ones((2, 85, 4), np.float32))

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, 'replace', crash)
    with pytest.raises(KeyboardInterrupt):
        save_npy_atomic(target, np.zeros((3, 85, 4), np.float32))
    assert np.load(target).shape == (2, 85, 4)  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ['x.npy']  # no temporary left


def test_ledger_keeps_the_latest_outcome_and_survives_a_cut_line(tmp_path):
    ledger = Ledger(tmp_path / 'ledger.jsonl')
    ledger.record(Outcome('s1', 'v', 'failed', 'boom'))
    ledger.record(Outcome('s1', 'v', 'written', '', 10, 'p'))
    ledger.record(Outcome('s2', 'v', 'skipped', NO_PERSON))
    ledger.record(Outcome('s2', 'v', 'skipped', NO_PERSON))  # unchanged: not repeated
    with open(tmp_path / 'ledger.jsonl', 'a') as f:
        f.write('{"sentence": "s3", "vid')  # a crash mid-line
    latest = read_ledgers(tmp_path)
    assert latest['s1'].status == 'written' and latest['s2'].is_final() and 's3' not in latest
    assert len((tmp_path / 'ledger.jsonl').read_text().splitlines()) == 4


# ------------------------------------------------------------------ shards
def test_shards_are_disjoint_cover_everything_and_balance():
    rng = np.random.default_rng(0)
    segments = [Segment(f'v{v}', f'v{v}_s{i}', 0, float(rng.uniform(1, 20)))
                for v in range(40) for i in range(int(rng.integers(1, 8)))]
    shards = [select_shard(segments, 3, i) for i in range(3)]
    names = [s.sentence_name for shard in shards for s in shard]
    assert sorted(names) == sorted(s.sentence_name for s in segments)
    videos = [{s.video_name for s in shard} for shard in shards]
    assert not (videos[0] & videos[1]) and not (videos[0] & videos[2]) and not (videos[1] & videos[2])
    loads = [sum(s.duration for s in shard) for shard in shards]
    biggest_video = max(sum(s.duration for s in segments if s.video_name == v) for v in {s.video_name for s in segments})
    assert max(loads) - min(loads) <= biggest_video
    assert assign_shards(list(reversed(segments)), 3) == assign_shards(segments, 3)  # order-free
    with pytest.raises(ValueError):
        select_shard(segments, 3, 3)


def test_local_workers_spread_over_the_gpus(monkeypatch):
    import torch

    from signpose.nets.devices import first_device, worker_devices
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 3)
    assert worker_devices('cuda:0', 5) == ['cuda:0', 'cuda:1', 'cuda:2', 'cuda:0', 'cuda:1']
    assert worker_devices('cuda', 2) == ['cuda:0', 'cuda:1']
    assert worker_devices('cuda:2', 2) == ['cuda:2', 'cuda:2']  # a named GPU is shared
    assert worker_devices(['cuda:1', 'cuda:2'], 3) == ['cuda:1', 'cuda:2', 'cuda:1']
    assert worker_devices('cpu', 2) == ['cpu', 'cpu']
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    assert worker_devices('cuda:0', 2) == ['cuda:0', 'cuda:0']
    assert first_device(['cuda:1', 'cuda:0']) == 'cuda:1' and first_device('cpu') == 'cpu'
