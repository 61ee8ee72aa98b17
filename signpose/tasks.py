"""From manifest segments to work: one task per video, holding the segments still to do."""
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .manifest import Segment
from .output import SKIPPED, Outcome
from .video import VideoError, VideoInfo, find_video, probe

# reasons for skipping a segment before any decoding
OUTPUT_EXISTS = 'output exists'
DONE_IN_LEDGER = 'final in ledger'
TOO_SHORT = 'too short'
TOO_LONG = 'too long'
VIDEO_MISSING = 'video missing'
VIDEO_UNREADABLE = 'video unreadable'
FPS_OUT_OF_RANGE = 'fps out of range'


@dataclass
class VideoTask:
    """One video and the segments to extract from it, in start order: the unit of work."""
    video_name: str
    info: VideoInfo
    segments: List[Segment] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(s.duration for s in self.segments)


def output_path(npy_dir, sentence_name: str) -> Path:
    return Path(npy_dir) / f'{sentence_name}.npy'


def plan_tasks(settings, segments: List[Segment], ledger: Optional[Dict[str, Outcome]] = None
               ) -> Tuple[List[VideoTask], List[Outcome], Counter]:
    """Split segments into video tasks and skips.

    Returns the tasks (videos in manifest order), the skipped segments as outcomes (for the
    ledger: reasons a person may want to see), and a count per skip reason (for the console).
    """
    ledger = ledger or {}
    counts: Counter = Counter()
    skipped: List[Outcome] = []
    by_video: Dict[str, List[Segment]] = defaultdict(list)

    def skip(segment, reason, detail=''):
        counts[reason] += 1
        skipped.append(Outcome(segment.sentence_name, segment.video_name, SKIPPED,
                               f'{reason}: {detail}' if detail else reason))

    for seg in segments:
        previous = ledger.get(seg.sentence_name)
        if output_path(settings.NPY_DIR, seg.sentence_name).exists():
            counts[OUTPUT_EXISTS] += 1
        elif previous is not None and previous.is_final() and previous.status != 'written':
            counts[DONE_IN_LEDGER] += 1
        elif seg.duration < settings.MIN_SEGMENT_SECONDS:
            skip(seg, TOO_SHORT, f'{seg.duration:.3f} s < {settings.MIN_SEGMENT_SECONDS} s')
        elif seg.duration > settings.MAX_SEGMENT_SECONDS:
            skip(seg, TOO_LONG, f'{seg.duration:.1f} s > {settings.MAX_SEGMENT_SECONDS} s')
        else:
            by_video[seg.video_name].append(seg)

    tasks: List[VideoTask] = []
    low, high = settings.ACCEPT_VIDEO_FPS_WITHIN
    for video_name, video_segments in by_video.items():
        path = find_video(settings.VIDEO_DIR, video_name)
        if path is None:
            for seg in video_segments:
                skip(seg, VIDEO_MISSING, f'no {video_name}[.mp4|.mkv|.webm|.mov|.avi] in {settings.VIDEO_DIR}')
            continue
        try:
            info = probe(path, settings.VIDEO_BACKEND)
        except VideoError as err:
            for seg in video_segments:
                skip(seg, VIDEO_UNREADABLE, str(err))
            continue
        if not low <= info.fps <= high:
            for seg in video_segments:
                skip(seg, FPS_OUT_OF_RANGE, f'{info.fps:.2f} fps not in [{low}, {high}]')
            continue
        tasks.append(VideoTask(video_name, info, sorted(video_segments, key=lambda s: (s.start, s.end))))
    return tasks, skipped, counts
