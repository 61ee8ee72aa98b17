"""Reading videos with OpenCV: probing, and decoding the frames that segments need."""
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional, Tuple

import cv2
import numpy as np

VIDEO_EXTENSIONS = ('.mp4', '.mkv', '.webm', '.mov', '.avi')
SEEK_GAP_FRAMES = 240  # across larger gaps seek instead of decoding (and dropping) every frame


class VideoError(RuntimeError):
    """A video that cannot be opened or decoded."""


@dataclass(frozen=True)
class VideoInfo:
    path: str
    fps: float
    frame_count: int
    width: int
    height: int


def find_video(video_dir, video_name: str) -> Optional[Path]:
    """VIDEO_DIR/VIDEO_NAME, as given or with a usual downloaded extension."""
    base = Path(video_dir) / video_name
    if base.suffix.lower() in VIDEO_EXTENSIONS and base.is_file():
        return base
    for ext in VIDEO_EXTENSIONS:
        candidate = base.with_name(base.name + ext)
        if candidate.is_file():
            return candidate
    return None


def probe(path) -> VideoInfo:
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoError(f'cannot open {path} (not a video, or a codec OpenCV lacks)')
        fps = cap.get(cv2.CAP_PROP_FPS)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        ok, frame = cap.read()
        if not ok or frame is None:
            raise VideoError(f'cannot decode {path}: no readable frame')
        if not fps or fps != fps or fps <= 0:
            raise VideoError(f'{path} reports no frame rate')
        return VideoInfo(str(path), float(fps), count, frame.shape[1], frame.shape[0])
    finally:
        cap.release()


def read_frames(path, indices: Iterable[int], seek_gap: int = SEEK_GAP_FRAMES
                ) -> Iterator[Tuple[int, np.ndarray]]:
    """Yield (index, BGR frame) for increasing frame indices, decoding the video once.

    Frames between wanted ones are grabbed (not converted); gaps larger than ``seek_gap``
    are crossed by seeking. Stops quietly at the end of the video.
    """
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise VideoError(f'cannot open {path}')
    try:
        position = 0  # index of the frame the next read returns
        for index in indices:
            if index < position:
                raise ValueError('frame indices must increase')
            if index - position > seek_gap:
                cap.set(cv2.CAP_PROP_POS_FRAMES, index)
                position = index
            while position < index:
                if not cap.grab():
                    return
                position += 1
            ok, frame = cap.read()
            if not ok:
                return
            position += 1
            yield index, frame
    finally:
        cap.release()


_END = object()


def prefetch(iterator: Iterator, size: int) -> Iterator:
    """Run an iterator in a background thread, ``size`` items ahead (decode overlaps inference).

    OpenCV releases the GIL while decoding, so this overlaps with the models' forward passes.
    Exceptions in the thread are raised in the consumer.
    """
    items: queue.Queue = queue.Queue(maxsize=max(1, size))
    stop = threading.Event()

    def produce():
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(_END)
        except BaseException as err:  # handed to the consumer
            items.put(err)
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
