"""Reading the videos users have: every codec and container of a YouTube or How2Sign download,
variable frame rates, rotation, exact seeking. The videos are encoded here by FFmpeg's encoders
(through PyAV), each frame showing its own index, so every frame read can be checked."""
import numpy as np
import pytest
from conftest import CODECS, encode_video, garble_video, index_of

from signpose.data.sampling import sample_frames, segment_frames
from signpose.data.video import VideoError, probe, read_frames, read_timeline, resolve_backend

FRAMES, GOP = 300, 60  # 10 s at 30 fps, a keyframe every 2 s
# caption-like windows far apart (seeks across the gaps with seek_gap=20), and the last frame
WINDOWS = list(range(3, 9)) + list(range(130, 140)) + list(range(262, 270)) + [FRAMES - 1]


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp('codecs')
    return {(codec, ext): encode_video(folder / f'{codec}.{ext}', codec, FRAMES, gop=GOP) for codec, ext in CODECS}


def ids(pairs):
    return [f'{codec}-{ext}' for codec, ext in pairs]


@pytest.mark.parametrize('pair', CODECS, ids=ids(CODECS))
def test_auto_reads_every_codec_and_seeks_exactly(videos, pair):
    info = probe(videos[pair])  # VIDEO_BACKEND = 'auto'
    assert info.backend == 'pyav' and (info.width, info.height) == (256, 144) and info.fps == 30.0
    timeline = read_timeline(info)
    assert len(timeline) == FRAMES and timeline.times is None  # a constant rate: frame i at i / 30 s
    for seek_gap in (20, 10_000):  # seeking across the gaps, and decoding straight through
        got = [(index, index_of(frame)) for index, frame in read_frames(info, WINDOWS, timeline, seek_gap)]
        assert got == [(i, i) for i in WINDOWS], seek_gap


def test_seeks_far_with_the_default_gap(tmp_path):
    """A longer AV1 webm read at windows further apart than SEEK_GAP_FRAMES (240)."""
    video = encode_video(tmp_path / 'long.webm', 'libsvtav1', 900, gop=90)
    info = probe(video)
    wanted = list(range(10, 20)) + list(range(400, 412)) + list(range(850, 860))
    assert [(i, index_of(f)) for i, f in read_frames(info, wanted)] == [(i, i) for i in wanted]


@pytest.mark.parametrize('pair', [p for p in CODECS if p[0] != 'libsvtav1'], ids=ids(p for p in CODECS if p[0] != 'libsvtav1'))
def test_opencv_reads_the_same_frames_where_it_has_a_decoder(videos, pair):
    info = probe(videos[pair], 'opencv')
    assert info.backend == 'opencv' and (info.width, info.height) == (256, 144)
    assert [(i, index_of(f)) for i, f in read_frames(info, WINDOWS)] == [(i, i) for i in WINDOWS]
    pyav = probe(videos[pair], 'pyav')
    for (_, a), (_, b) in zip(read_frames(info, [5, 133]), read_frames(pyav, [5, 133])):
        assert np.abs(a.astype(int) - b).max() <= 2  # the same decoded pixels, up to colour conversion


@pytest.mark.parametrize('ext', ['mp4', 'webm'])
def test_opencv_cannot_read_av1_and_says_so(videos, ext):
    with pytest.raises(VideoError, match=rf'libsvtav1\.{ext}: codec av1, OpenCV cannot decode it'):
        probe(videos[('libsvtav1', ext)], 'opencv')


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match='VIDEO_BACKEND'):
        resolve_backend('ffmpeg')


def test_undecodable_video_names_the_file_and_the_codec(videos, tmp_path):
    """An mp4 whose container is intact but whose video data is noise."""
    broken = garble_video(videos[('libx264', 'mp4')], tmp_path / 'garbage.mp4')
    for backend in ('auto', 'opencv'):
        with pytest.raises(VideoError, match=r'^garbage\.mp4: codec h264, '):
            probe(broken, backend)
    not_a_video = tmp_path / 'text.webm'
    not_a_video.write_text('hello')
    with pytest.raises(VideoError, match=r'text\.webm: cannot open'):
        probe(not_a_video)


# 1 s at 30 fps, then 1 s at 10 fps: a phone lowering its rate in the dark
VFR_TIMES = [i / 30 for i in range(30)] + [1 + i / 10 for i in range(10)]


def on_screen_at_ticks(times, inside, rate=24.0, eps=1e-9):
    """The frames on screen as a clock ticks ``rate`` times a second from the first frame: the
    frame shown just before each tick, up to the end of the last frame's display."""
    t0 = times[inside[0]]
    shown_until = times[inside[-1] + 1] if inside[-1] + 1 < len(times) else times[-1] + np.median(np.diff(times))
    kept, k = [], 1
    while k <= (shown_until - t0) * rate + eps:
        frame = max(i for i in inside if times[i] < t0 + (k - eps) / rate)
        if frame not in kept:
            kept.append(frame)
        k += 1
    return kept


@pytest.mark.parametrize('ext', ['mp4', 'mkv'])
def test_variable_frame_rate_is_sampled_on_the_real_timestamps(tmp_path, ext):
    video = encode_video(tmp_path / f'vfr.{ext}', 'libx264', len(VFR_TIMES), times=VFR_TIMES)
    info = probe(video)
    assert info.fps == 30.0  # the base rate, not the average (20): accepted like the 30 fps part
    timeline = read_timeline(info)
    assert timeline.times is not None and np.allclose(timeline.times, VFR_TIMES, atol=1e-3)
    for start, end in ((0.5, 1.5), (0.9, 1.35), (1.2, 2.0)):
        inside = [i for i, t in enumerate(VFR_TIMES) if start <= t < end]
        assert list(segment_frames(info.fps, start, end, timeline.times)) == inside
        indices = sample_frames(info.fps, start, end, 24.0, 1, timeline.times)
        assert indices == on_screen_at_ticks(timeline.times, inside), (start, end)
        if ext == 'mp4':  # exact times (mkv rounds them to milliseconds)
            # the 30 fps part is thinned as a 30 fps video is (4 of 5 frames); at 10 fps every
            # frame is kept (each is shown while 2 or 3 ticks of the 24 fps clock fall)
            thirty = sample_frames(30.0, start, min(end, 1.0), 24.0) if start < 1.0 else []
            assert indices == thirty + [i for i in inside if i >= 30], (start, end)
        assert [(i, index_of(f)) for i, f in read_frames(info, indices, timeline)] == [(i, i) for i in indices]
    # what the frame counting of a constant rate would have taken: frame i at i / 30 s
    assert list(segment_frames(30.0, 1.2, 2.0)) != list(segment_frames(30.0, 1.2, 2.0, timeline.times))


def test_sampling_on_timestamps_equals_the_constant_rate_sampler():
    """Fed the times i / fps, the timestamp sampler keeps exactly the frames of the index one."""
    rng = np.random.default_rng(0)
    for fps in (24.0, 25.0, 30000 / 1001, 30.0, 50.0, 60000 / 1001, 60.0):
        times = np.arange(int(fps * 130)) / fps
        for _ in range(300):
            start = float(rng.uniform(0, 60))
            end = start + float(rng.uniform(0.05, 60))
            for reduce_to, skip in ((24.0, 1), (None, 2)):
                assert sample_frames(fps, start, end, reduce_to, skip, times) == \
                    sample_frames(fps, start, end, reduce_to, skip), (fps, start, end)


@pytest.mark.parametrize('backend', ['pyav', 'opencv'])
@pytest.mark.parametrize('rotation', [90, 180, 270])
def test_rotated_phone_videos_are_read_upright(tmp_path, rotation, backend):
    video = encode_video(tmp_path / f'rot{rotation}.mp4', 'libx264', 12, rotation=rotation)
    info = probe(video, backend)
    assert info.rotation == rotation and (info.width, info.height) == (256, 144)  # the upright size
    for index, frame in read_frames(info, [0, 5, 11]):
        assert frame.shape == (144, 256, 3) and index_of(frame) == index
