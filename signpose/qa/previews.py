"""A segment's preview on the page: one frame of its video with the skeleton drawn (a JPEG data
URL), its rows for the page's player (a contiguous stretch, played at the sampled rate with bones,
at the frame's aspect ratio), and its overlay video when the viewer made one (NPY_DIR/viz)."""
import base64
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Optional, Sequence

import cv2
import numpy as np

from signpose.config import Rows
from signpose.data.locate import SegmentVideos
from signpose.data.manifest import ManifestError
from signpose.data.sampling import sample_frames
from signpose.data.video import read_frames
from signpose.output.files import load_array
from signpose.qa.visualize import SKELETON, Drawer

THUMB_WIDTH = 240
PLAYER_FRAMES = 48  # a contiguous stretch (2 s at 24 fps): the page stays small at any --show
HIDDEN = 255  # a coordinate byte: the point is not shown (visibility < KPT_THR, or no person)
OVERLAYS = ('.mp4', '.webm')


@dataclass
class Sources:
    """Where previews come from, as plain values."""
    npy_dir: Path
    manifest: Optional[str]
    video_dir: Optional[str]
    video_backend: str = 'auto'
    reduce_fps_to: Optional[float] = 24.0
    frame_skip: int = 1
    kpt_thr: float = 0.3
    coco_idx: Sequence[int] = ()


def bones(coco_idx: Sequence[int]) -> list:
    """The skeleton's pairs as positions in the rows (the viewer's, qa/visualize.py)."""
    position = {c: p for p, c in enumerate(coco_idx)}
    return [[position[a], position[b]] for a, b in SKELETON if a in position and b in position]


def point_parts(coco_idx: Sequence[int]) -> list:
    """0 body, 1 face, 2 left hand, 3 right hand, per row position."""
    return [0 if c < 23 else 1 if c < 91 else 2 if c < 112 else 3 for c in coco_idx]


class KnownSegments(SegmentVideos):
    """SegmentVideos with the manifest already read (the report reads it once)."""

    def __init__(self, sources, segments: Optional[dict]):
        super().__init__(sources.manifest, sources.video_dir, sources.video_backend)
        self._segments = segments


class Previews:
    def __init__(self, sources: Sources, out_dir: Path, segments: Optional[dict] = None):
        self.sources, self.out_dir = sources, out_dir
        # what the viewer's Drawer reads of the options: the rows' keypoints and KPT_THR
        drawn = SimpleNamespace(output=SimpleNamespace(rows=Rows(tuple(sources.coco_idx), True)),
                                engine=SimpleNamespace(persons=SimpleNamespace(kpt_thr=sources.kpt_thr)))
        self.videos = KnownSegments(sources, segments)
        self.drawer = Drawer(drawn)

    def card(self, record: dict) -> dict:
        name = record['sentence']
        q = record.get('quality') if isinstance(record.get('quality'), dict) else {}
        card = dict(name=name, video=str(record.get('video', '')), thumb='', points='', start=0, total=0,
                    fps=float(q.get('fps') or self.sources.reduce_fps_to or 24.0),
                    aspect=None, overlay='', note='')
        size = q.get('size')
        if isinstance(size, list) and len(size) == 2 and size[1]:
            card['aspect'] = size[0] / size[1]
        try:
            rows = np.nan_to_num(load_array(Path(self.sources.npy_dir) / f'{name}.npy').astype(np.float32))
            if rows.ndim != 3 or rows.shape[2] < 2:
                raise ValueError(f'shape {rows.shape}')
        except (ValueError, OSError) as err:
            card['note'] = f'no preview: {err}'[:200]
            return card
        card['thumb'] = self.thumbnail(rows, name, card)
        card['start'], card['points'] = self.player(rows)
        card['total'] = len(rows)
        if card['aspect'] is None:
            card['aspect'] = 16 / 9
            card['note'] = 'frame size unknown (an older ledger, no video): drawn at 16:9'
        for suffix in OVERLAYS:
            overlay = Path(self.sources.npy_dir) / 'viz' / f'{name}{suffix}'
            if overlay.is_file():
                try:
                    card['overlay'] = overlay.resolve().relative_to(self.out_dir.resolve()).as_posix()
                except ValueError:
                    card['overlay'] = overlay.resolve().as_uri()
                break
        return card

    def thumbnail(self, rows: np.ndarray, name: str, card: dict) -> str:
        """A data: URL of the middle frame with a person, its skeleton drawn; a grey canvas when the
        video is not at hand."""
        person = np.flatnonzero(np.any(rows != 0, axis=(1, 2)))
        at = int(person[len(person) // 2]) if len(person) else 0
        image = None
        try:
            segment = self.videos.segment(name) if self.sources.manifest else None
        except (ManifestError, OSError):
            segment = None
        if segment is not None and self.sources.video_dir:
            video = self.videos.video(segment.video_name)
            if video.info is not None:
                card['aspect'] = video.info.width / max(1, video.info.height)
                times = video.timeline.times if video.timeline is not None else None
                indices = sample_frames(video.info.fps, segment.start, segment.end, self.sources.reduce_fps_to,
                                        self.sources.frame_skip, times)
                if at < len(indices):
                    for _, frame in read_frames(video.info, [indices[at]], video.timeline):
                        image = frame
        if image is None:
            aspect = card['aspect'] or 16 / 9
            image = np.full((max(1, round(THUMB_WIDTH / aspect)), THUMB_WIDTH, 3), 60, np.uint8)
        height = max(1, round(image.shape[0] * THUMB_WIDTH / image.shape[1]))
        image = cv2.resize(image, (THUMB_WIDTH, height), interpolation=cv2.INTER_AREA)
        if rows.shape[2] >= 3:
            self.drawer.draw(image, rows[at] if rows.shape[2] >= 4 else rows[at, :, :3])
        ok, jpg = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, 70])
        return 'data:image/jpeg;base64,' + base64.b64encode(jpg.tobytes()).decode() if ok else ''

    def player(self, rows: np.ndarray):
        """(first row, base64 of PLAYER_FRAMES consecutive rows: x, y per point as bytes 0-254 of
        the frame's width and height, HIDDEN for a point not shown) around the middle person frame."""
        person = np.flatnonzero(np.any(rows != 0, axis=(1, 2)))
        middle = int(person[len(person) // 2]) if len(person) else 0
        start = max(0, min(len(rows) - PLAYER_FRAMES, middle - PLAYER_FRAMES // 2))
        return start, self.encode(rows[start:start + PLAYER_FRAMES])

    def encode(self, part: np.ndarray) -> str:
        """Rows as the page's player reads them (see ``player``), base64."""
        xy = np.round(np.clip(part[:, :, :2], 0, 1) * (HIDDEN - 1)).astype(np.uint8)
        shown = np.any(part != 0, axis=2, keepdims=True)
        if part.shape[2] >= 4:
            shown &= part[:, :, 3:4] >= self.sources.kpt_thr
        xy = np.where(shown, xy, HIDDEN).astype(np.uint8)
        return base64.b64encode(xy.tobytes()).decode()
