"""A sentence's segment and its video, for the tools that look at one output at a time (the
validator, the viewer, the .npy -> .pose converter): the manifest read once, when first asked, and
each video found and probed once."""
from dataclasses import dataclass
from typing import Dict, Optional

from signpose.data.manifest import Segment, read_manifest
from signpose.data.video import Timeline, VideoError, VideoInfo, find_video, probe, read_timeline


@dataclass
class LocatedVideo:
    """A video's info and frame timeline, or None for both and ``problem``: why not, in one line."""
    info: Optional[VideoInfo]
    timeline: Optional[Timeline]
    problem: str = ''


class SegmentVideos:
    """``segment(sentence)``: its manifest row (the manifest's ManifestError passes to the caller);
    ``video(video_name)``: found in VIDEO_DIR (any of the usual extensions), probed and its frames'
    times read, with the decoder VIDEO_BACKEND names."""

    def __init__(self, manifest: str, video_dir: str, video_backend: str = 'auto'):
        self.manifest, self.video_dir, self.video_backend = manifest, video_dir, video_backend
        self._segments: Optional[Dict[str, Segment]] = None
        self._videos: Dict[str, LocatedVideo] = {}

    def segments(self) -> Dict[str, Segment]:
        if self._segments is None:
            segments, _ = read_manifest(self.manifest)
            self._segments = {s.sentence_name: s for s in segments}
        return self._segments

    def segment(self, sentence: str) -> Optional[Segment]:
        return self.segments().get(sentence)

    def video(self, video_name: str) -> LocatedVideo:
        if video_name not in self._videos:
            self._videos[video_name] = self._locate(video_name)
        return self._videos[video_name]

    def _locate(self, video_name: str) -> LocatedVideo:
        path = find_video(self.video_dir, video_name)
        if path is None:
            return LocatedVideo(None, None, f'video {video_name!r} not found in VIDEO_DIR {self.video_dir}')
        try:
            info = probe(path, self.video_backend)
            return LocatedVideo(info, read_timeline(info))
        except VideoError as err:
            return LocatedVideo(None, None, f'video {video_name!r} cannot be read: {err}')
