"""From manifest segments to work: one task per video, holding the segments still to do."""
import os
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple, Union

from signpose.config import Output, Sampling
from signpose.contract.files import is_done
from signpose.contract.outcomes import CRASH_LIMIT, CRASHED, SKIPPED, Outcome, crashed_reason
from signpose.data.manifest import Segment
from signpose.data.video import VIDEO_EXTENSIONS, VideoError, VideoFinder, VideoInfo, probe

# reasons for skipping a segment before any decoding
OUTPUT_EXISTS = 'output exists'
DONE_IN_LEDGER = 'final in ledger'
TOO_SHORT = 'too short'
TOO_LONG = 'too long'
VIDEO_MISSING = 'video missing'
VIDEO_UNREADABLE = 'video unreadable'
FPS_OUT_OF_RANGE = 'fps out of range'
PROBE_THREADS = 8  # videos probed at once: FFmpeg works without the GIL, and network storage waits


@dataclass
class VideoTask:
    """One video and the segments to extract from it, in start order: the unit of work."""
    video_name: str
    info: VideoInfo
    segments: List[Segment] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(s.duration for s in self.segments)

    @property
    def reader(self) -> str:
        """Which decoder reads the video, and its codec (for the ledger and the console)."""
        return f'{self.info.backend} {self.info.codec}'.strip()


def existing_outputs(npy_dir) -> Set[str]:
    """Files in NPY_DIR, from one listing (a stat per segment costs seconds at YouTube-ASL scale;
    the listing's entry types cost none). A folder under an output's name is not its output: the
    segment is done again, and its write error names the folder."""
    try:
        with os.scandir(npy_dir) as entries:
            return {entry.name for entry in entries if entry.is_file()}
    except (FileNotFoundError, NotADirectoryError):
        return set()


def probe_or_error(path: Path, backend: str) -> Union[VideoInfo, VideoError]:
    try:
        return probe(path, backend)
    except VideoError as err:
        return err


def probe_all(paths: List[Path], backend: str, threads: int = PROBE_THREADS) -> List[Union[VideoInfo, VideoError]]:
    """Each video's info or its VideoError, in order; ``threads`` at a time."""
    if threads <= 1 or len(paths) <= 1:
        return [probe_or_error(path, backend) for path in paths]
    with ThreadPoolExecutor(threads, thread_name_prefix='probe') as pool:
        return list(pool.map(probe_or_error, paths, [backend] * len(paths)))


def duration_skip(seg: Segment, sampling: Sampling) -> Optional[Tuple[str, str]]:
    """(reason, detail) when the segment is too short or too long to extract, else None."""
    if seg.duration < sampling.min_seconds:
        return TOO_SHORT, f'{seg.duration:.3f} s < {sampling.min_seconds} s'
    if seg.duration > sampling.max_seconds:
        return TOO_LONG, f'{seg.duration:.1f} s > {sampling.max_seconds} s'
    return None


def fps_skip(info: VideoInfo, sampling: Sampling) -> Optional[Tuple[str, str]]:
    """(reason, detail) when the video's frame rate is outside ACCEPT_VIDEO_FPS_WITHIN, else None."""
    low, high = sampling.accept_fps
    if not low <= info.fps <= high:
        return FPS_OUT_OF_RANGE, f'{info.fps:.2f} fps not in [{low}, {high}]'
    return None


def plan_tasks(segments: List[Segment], video_dir: str, sampling: Sampling, output: Output, multi_person: str,
               ledger: Optional[Dict[str, Outcome]] = None, probe_threads: int = PROBE_THREADS,
               crashes: Optional[Dict[str, int]] = None, retry_crashed: bool = False,
               ) -> Tuple[List[VideoTask], List[Outcome], Counter]:
    """Split segments into video tasks and skips (the videos in ``video_dir``; done-ness by ``output``;
    a skip is final per MULTI_PERSON ``multi_person``).

    ``crashes``: the runs the stage died in on each video (output.ledger.read_ledger_state); a
    video with CRASH_LIMIT of them is skipped unless ``retry_crashed`` (RETRY_CRASHED).

    Returns the tasks (videos in manifest order), the skipped segments as outcomes (for the
    ledger: reasons a person may want to see), and a count per skip reason (for the console).
    """
    ledger = ledger or {}
    counts: Counter = Counter()
    skipped: List[Outcome] = []
    by_video: Dict[str, List[Segment]] = defaultdict(list)

    def skip(segments, reason, detail='', text=None):
        reason_text = text or (f'{reason}: {detail}' if detail else reason)
        counts[reason] += len(segments)
        skipped.extend(Outcome(seg.sentence_name, seg.video_name, SKIPPED, reason_text) for seg in segments)

    outputs = existing_outputs(output.folder)
    for seg in segments:
        previous = ledger.get(seg.sentence_name)
        if is_done(output.folder, seg.sentence_name, output.formats, outputs):
            counts[OUTPUT_EXISTS] += 1
        elif previous is not None and previous.is_final(multi_person) and previous.status != 'written':
            counts[DONE_IN_LEDGER] += 1
        elif duration_skip(seg, sampling):
            skip([seg], *duration_skip(seg, sampling))
        else:
            by_video[seg.video_name].append(seg)

    crashes = crashes or {}
    for video_name in [v for v in by_video if crashes.get(v, 0) >= CRASH_LIMIT]:
        if not retry_crashed:  # not even probed: the probe may be what crashed
            skip(by_video.pop(video_name), CRASHED, text=crashed_reason(crashes[video_name]))

    finder = VideoFinder(video_dir)
    paths = {video_name: finder.find(video_name) for video_name in by_video}
    found = [path for path in paths.values() if path is not None]
    infos = dict(zip(found, probe_all(found, sampling.video_backend, probe_threads)))

    tasks: List[VideoTask] = []
    for video_name, video_segments in by_video.items():
        path = paths[video_name]
        info = infos.get(path)
        if path is None:
            skip(video_segments, VIDEO_MISSING, f'no {video_name}[{"|".join(VIDEO_EXTENSIONS)}] in {video_dir}')
        elif isinstance(info, VideoError):
            skip(video_segments, VIDEO_UNREADABLE, str(info))
        elif fps_skip(info, sampling):
            skip(video_segments, *fps_skip(info, sampling))
        else:
            tasks.append(VideoTask(video_name, info, sorted(video_segments, key=lambda s: (s.start, s.end))))
    return tasks, skipped, counts
