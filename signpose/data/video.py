"""Reading videos: probing, the frames' timestamps, and decoding exactly the frames segments need.

Two decoders (``VIDEO_BACKEND``):
- 'pyav': PyAV, whose wheels bundle FFmpeg with dav1d: H.264, HEVC, VP9 and AV1 in mp4, webm,
  mkv and mov. Frames are identified by their presentation timestamp, so seeking is exact for
  every codec and container, and variable-frame-rate videos are sampled on their real times.
- 'opencv': OpenCV's FFmpeg (no AV1). Frames are counted from the start and never sought (its
  frame-number seeking is not exact for every codec); the frame rate is taken as constant.
'auto' (the default) is PyAV, or OpenCV where PyAV is not installed.

Frames are handed out upright (rotation metadata of phone videos applied), in BGR like cv2.
"""
import os
import threading
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

VIDEO_EXTENSIONS = ('.mp4', '.mkv', '.webm', '.mov', '.avi')
VIDEO_BACKENDS = ('auto', 'pyav', 'opencv')
SEEK_GAP_FRAMES = 240  # across larger gaps seek instead of decoding (and dropping) every frame
CONSTANT_RATE_TOLERANCE = 0.25  # frame durations: timestamps this close to i / fps are a constant rate


class VideoError(RuntimeError):
    """A video that cannot be opened or decoded."""


@dataclass(frozen=True)
class VideoInfo:
    path: str
    fps: float  # the nominal frame rate (for a variable rate, the stream's base rate)
    frame_count: int
    width: int  # of the upright frame
    height: int
    backend: str = 'opencv'  # the decoder that reads it
    codec: str = ''
    rotation: int = 0  # degrees counter-clockwise that make a decoded frame upright


@dataclass(frozen=True)
class Timeline:
    """When each frame is shown, in presentation order (PyAV): what identifies a frame exactly."""
    pts: np.ndarray  # int64 timestamps in stream units
    time_base: Fraction
    times: Optional[np.ndarray]  # seconds from the first frame when the rate varies; None: i / fps

    def __len__(self):
        return len(self.pts)


def video_file_names(video_name: str) -> List[str]:
    """The file names VIDEO_NAME may have in VIDEO_DIR, in the order they are tried: as given when it
    already ends in a video extension, then with each usual downloaded extension."""
    given = [video_name] if Path(video_name).suffix.lower() in VIDEO_EXTENSIONS else []
    return given + [video_name + ext for ext in VIDEO_EXTENSIONS]


def find_video(video_dir, video_name: str) -> Optional[Path]:
    """VIDEO_DIR/VIDEO_NAME, as given or with a usual downloaded extension."""
    for name in video_file_names(video_name):
        candidate = Path(video_dir) / name
        if candidate.is_file():
            return candidate
    return None


class VideoFinder:
    """``find_video`` for many names over one listing of VIDEO_DIR: up to six stats per name are
    66,000 for YouTube-ASL's 11,093 videos, a minute on network storage at 1 ms each."""

    def __init__(self, video_dir):
        self.video_dir = Path(video_dir)
        try:
            with os.scandir(video_dir) as entries:
                self.files = {entry.name for entry in entries if entry.is_file()}
        except OSError:
            self.files = set()  # no folder: every video is missing

    def find(self, video_name: str) -> Optional[Path]:
        if '/' in video_name or os.sep in video_name:
            return find_video(self.video_dir, video_name)  # in a subfolder: not in the listing
        name = next((n for n in video_file_names(video_name) if n in self.files), None)
        return self.video_dir / name if name is not None else None


def have_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(backend: str) -> str:
    if backend not in VIDEO_BACKENDS:
        raise ValueError(f"VIDEO_BACKEND must be one of {', '.join(map(repr, VIDEO_BACKENDS))}, not {backend!r}")
    if backend == 'auto':
        return 'pyav' if have_pyav() else 'opencv'
    if backend == 'pyav' and not have_pyav():
        raise VideoError("VIDEO_BACKEND='pyav' but PyAV is not installed: run bash setup.sh (or pip install av)")
    return backend


def video_backend_problem(backend: str) -> Optional[str]:
    """Why VIDEO_BACKEND cannot read videos here (one line naming the fix), or None."""
    try:
        resolve_backend(backend)
    except (ValueError, VideoError) as err:
        return str(err)
    return None


def probe(path, backend: str = 'auto') -> VideoInfo:
    """Frame rate, size, codec and rotation; decodes the first frame to prove the video is readable."""
    backend = resolve_backend(backend)
    return _probe_pyav(Path(path)) if backend == 'pyav' else _probe_opencv(Path(path))


def _normal_rotation(degrees) -> int:
    return int(round((degrees or 0) / 90.0)) % 4 * 90


def _upright_size(width: int, height: int, rotation: int) -> Tuple[int, int]:
    return (height, width) if rotation in (90, 270) else (width, height)


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """The frame as a player shows it (``rotation`` degrees counter-clockwise)."""
    if rotation == 90:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    if rotation == 180:
        return cv2.rotate(image, cv2.ROTATE_180)
    if rotation == 270:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    return image


def codec_of(path) -> str:
    """The video codec's name as FFmpeg (PyAV) reports it, or '' when that cannot be told."""
    if not have_pyav():
        return ''
    import av
    try:
        with av.open(str(path)) as container:
            return _codec_name(container.streams.video[0]) if container.streams.video else ''
    except (av.FFmpegError, IndexError, ValueError):
        return ''


def _codec_name(stream) -> str:
    """The codec as ffprobe names it ('av1', not the decoder 'libdav1d')."""
    codec = stream.codec_context.codec if stream.codec_context else None
    return getattr(codec, 'canonical_name', None) or getattr(codec, 'name', None) or 'unknown'


def _nominal_rate(stream) -> float:
    """The average frame rate (what OpenCV reports), or the stream's base rate where they differ:
    for a variable rate the average says little (30 fps then 10 fps averages 20)."""
    average, guessed = stream.average_rate, stream.guessed_rate
    if average and guessed and abs(float(average) / float(guessed) - 1) > 0.01:
        return float(guessed)
    return float(average or guessed or 0)


def _probe_pyav(path: Path) -> VideoInfo:
    import av
    try:
        container = av.open(str(path))
    except av.FFmpegError as err:
        raise VideoError(f'{path.name}: cannot open ({err.strerror or err}): not a video, or a damaged file') from None
    with container:
        if not container.streams.video:
            raise VideoError(f'{path.name}: no video stream')
        stream = container.streams.video[0]
        stream.thread_count = 1  # one frame to decode: the decoder's own threads would cost more than they give
        codec = _codec_name(stream)
        try:
            frame = next(container.decode(stream), None)
        except av.FFmpegError as err:
            raise VideoError(f'{path.name}: codec {codec}, cannot decode ({err.strerror or err})') from None
        if frame is None:
            raise VideoError(f'{path.name}: codec {codec}, no frame could be decoded (no decoder for it in this '
                             f'FFmpeg build, or damaged data)')
        fps = _nominal_rate(stream)
        if not fps > 0:
            raise VideoError(f'{path.name}: reports no frame rate')
        rotation = _normal_rotation(getattr(frame, 'rotation', 0))
        width, height = _upright_size(frame.width, frame.height, rotation)
        return VideoInfo(str(path), fps, int(stream.frames or 0), width, height, 'pyav', codec, rotation)


def _probe_opencv(path: Path) -> VideoInfo:
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            codec = codec_of(path)
            detail = f"codec {codec}, OpenCV cannot open it: read it with VIDEO_BACKEND='auto'" if codec else \
                'cannot open with OpenCV (not a video, or a codec OpenCV lacks)'
            raise VideoError(f'{path.name}: {detail}')
        fps = cap.get(cv2.CAP_PROP_FPS)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        ok, frame = cap.read()
        if not ok or frame is None:
            codec = codec_of(path)
            detail = f'codec {codec}, OpenCV cannot decode it (no decoder in its FFmpeg, or damaged data): ' \
                f"read it with VIDEO_BACKEND='auto'" if codec else 'cannot decode: no readable frame'
            raise VideoError(f'{path.name}: {detail}')
        if not fps or fps != fps or fps <= 0:
            raise VideoError(f'{path.name}: reports no frame rate')
        # OpenCV reads the rotation but (in this build) does not apply it: the reader does
        rotation = _normal_rotation(-cap.get(cv2.CAP_PROP_ORIENTATION_META))
        width, height = _upright_size(frame.shape[1], frame.shape[0], rotation)
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, 'little').decode('ascii', 'replace').strip('\x00 ')
        return VideoInfo(str(path), float(fps), count, width, height, 'opencv', fourcc.lower(), rotation)
    finally:
        cap.release()


def read_timeline(info: VideoInfo) -> Optional[Timeline]:
    """Every frame's timestamp, from the packets (demuxing reads no pixels); None for OpenCV.

    A timeline within a quarter frame of i / fps everywhere is a constant rate, and its frames
    are placed at exactly i / fps (as OpenCV's frame counting does); otherwise (variable frame
    rate) at their own times, counted from the first frame.
    """
    if info.backend != 'pyav':
        return None
    import av
    try:
        with av.open(info.path) as container:
            stream = container.streams.video[0]
            pts = [p.pts for p in container.demux(stream) if p.size and not p.is_discard]
            time_base = stream.time_base
    except av.FFmpegError as err:
        raise VideoError(f'{Path(info.path).name}: cannot read its packets ({err.strerror or err})') from None
    if not pts or any(p is None for p in pts):
        raise VideoError(f'{Path(info.path).name}: codec {info.codec}, frames without timestamps: '
                         f"read it with VIDEO_BACKEND='opencv'")
    pts = np.unique(np.asarray(pts, dtype=np.int64))  # presentation order
    times = (pts - pts[0]).astype(np.float64) * float(time_base)
    constant = np.all(np.abs(times - np.arange(len(pts)) / info.fps) < CONSTANT_RATE_TOLERANCE / info.fps)
    return Timeline(pts, time_base, None if constant else times)


def read_frames(info: VideoInfo, indices: Iterable[int], timeline: Optional[Timeline] = None,
                seek_gap: int = SEEK_GAP_FRAMES) -> Iterator[Tuple[int, np.ndarray]]:
    """Yield (index, upright BGR frame) for increasing frame indices, decoding the video once.

    Frames between wanted ones are decoded but not converted; PyAV crosses gaps larger than
    ``seek_gap`` by seeking. Stops quietly at the end of the video.
    """
    if info.backend == 'pyav':
        return _read_pyav(info, indices, timeline or read_timeline(info), seek_gap)
    return _read_opencv(info, indices)


def _read_opencv(info: VideoInfo, indices: Iterable[int]) -> Iterator[Tuple[int, np.ndarray]]:
    cap = cv2.VideoCapture(info.path)
    if not cap.isOpened():
        raise VideoError(f'cannot open {info.path}')
    try:
        position = 0  # index of the frame the next read returns
        for index in indices:
            if index < position:
                raise ValueError('frame indices must increase')
            while position < index:
                if not cap.grab():
                    return
                position += 1
            ok, frame = cap.read()
            if not ok:
                return
            position += 1
            yield index, upright(frame, info.rotation)
    finally:
        cap.release()


def _bgr(frame, reformatter) -> np.ndarray:
    """A PyAV frame as a BGR array: the same bits as ``to_ndarray``, without its slow copy, and
    with one colour converter per video (a frame's own one is set up anew for every frame)."""
    image = reformatter.reformat(frame, format='bgr24')
    plane = image.planes[0]
    rows = np.frombuffer(plane, np.uint8).reshape(image.height, plane.line_size)
    return np.ascontiguousarray(rows[:, :image.width * 3]).reshape(image.height, image.width, 3)


def _read_pyav(info: VideoInfo, indices: Iterable[int], timeline: Timeline,
               seek_gap: int) -> Iterator[Tuple[int, np.ndarray]]:
    import av
    from av.video.reformatter import VideoReformatter
    name = Path(info.path).name
    container = av.open(info.path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = 'AUTO'  # frame threads: several frames decode at once
        reformatter = VideoReformatter()
        pts = timeline.pts
        frames: Optional[Iterator] = None  # the decoder's frames from the current position
        position = -1  # index of the last frame decoded; -1 right after a seek
        for index in indices:
            if index <= position:
                raise ValueError('frame indices must increase')
            if index >= len(pts):
                return
            if frames is None and index <= seek_gap:
                frames = container.decode(stream)
            elif frames is None or index - position > seek_gap:
                frames, position = _seek(container, stream, pts, index), -1
            target = index  # where the last seek aimed
            while True:
                frame = next(frames, None)
                if frame is None:
                    return
                got = int(np.searchsorted(pts, frame.pts)) if frame.pts is not None else -1
                if not 0 <= got < len(pts) or pts[got] != frame.pts:
                    raise VideoError(f'{name}: a decoded frame has a timestamp ({frame.pts}) the packets do not have')
                if got == index:
                    position = index
                    yield index, upright(_bgr(frame, reformatter), info.rotation)
                    break
                if got < index:
                    position = got
                    continue
                # the frame came after the one wanted: a seek that landed too late, or a frame
                # the decoder could not produce
                if position >= 0 or target == 0:
                    raise VideoError(f'{name}: codec {info.codec}, frame {index} (pts {pts[index]}) '
                                     f'could not be decoded')
                target = max(0, target - 4 * max(1, index - target, seek_gap))
                frames = _seek(container, stream, pts, target)
    except av.FFmpegError as err:
        raise VideoError(f'{name}: codec {info.codec}, decoding failed ({err.strerror or err})') from None
    finally:
        container.close()


def _seek(container, stream, pts: Sequence[int], index: int) -> Iterator:
    """Decoded frames from the keyframe at or before frame ``index``."""
    container.seek(int(pts[index]), stream=stream, backward=True, any_frame=False)
    return container.decode(stream)


_END = object()


class BoundedQueue:
    """Items with their weight in bytes, at most ``size`` of them and ``max_bytes`` in all; an item
    heavier than ``max_bytes`` alone still fits into an empty queue (one in flight at a time)."""

    def __init__(self, size: int, max_bytes: Optional[int] = None):
        self.size, self.max_bytes = max(1, size), max_bytes
        self.items: deque = deque()
        self.held = 0  # bytes queued
        self.changed = threading.Condition()

    def has_room(self, weight: int) -> bool:
        if not self.items:
            return True
        return len(self.items) < self.size and (self.max_bytes is None or self.held + weight <= self.max_bytes)

    def put(self, item, weight: int, stop: Optional[threading.Event] = None, force: bool = False) -> bool:
        """Wait for room (unless ``force``), then queue; False when ``stop`` was set meanwhile."""
        with self.changed:
            while not force:
                if stop is not None and stop.is_set():
                    return False
                if self.has_room(weight):
                    break
                self.changed.wait(0.1)
            self.items.append((item, weight))
            self.held += weight
            self.changed.notify_all()
        return True

    def get(self):
        with self.changed:
            while not self.items:
                self.changed.wait()
            item, weight = self.items.popleft()
            self.held -= weight
            self.changed.notify_all()
        return item


def prefetch(iterator: Iterator, size: int, max_bytes: Optional[int] = None,
             weigh: Callable[[object], int] = lambda item: 0) -> Iterator:
    """Run an iterator in a background thread, at most ``size`` items and ``max_bytes`` bytes (the
    sum of ``weigh(item)``) ahead, so that decoding overlaps inference (BoundedQueue: an item
    heavier than ``max_bytes`` still passes, alone).

    OpenCV and PyAV release the GIL while decoding, so this overlaps with the models' forward
    passes. Exceptions in the thread are raised in the consumer.
    """
    items = BoundedQueue(size, max_bytes)
    stop = threading.Event()

    def produce():
        try:
            for item in iterator:
                if not items.put(item, weigh(item), stop):
                    return
            items.put(_END, 0, force=True)
        except BaseException as err:  # handed to the consumer
            items.put(err, 0, force=True)
        finally:
            close = getattr(iterator, 'close', None)
            if close is not None:
                close()  # releases the video

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
