"""A finished segment -> its files and its Outcome. What the engine hands over (contract/
extracted.py) is written here, one file per OUTPUT_FORMATS entry, each atomically; the segment is
done once all exist (contract/files.py). Also what a lost worker or Ray call had already written."""
import errno
from typing import List, Optional, Tuple, Union

import numpy as np

from signpose.common.timing import timed
from signpose.config import Output
from signpose.contract.extracted import Extracted
from signpose.contract.files import is_done, segment_files
from signpose.contract.outcomes import FAILED, WRITTEN, Outcome
from signpose.output.files import save_npy_atomic
from signpose.output.hands import hands_path, write_hands_atomic
from signpose.output.persons import persons_path, write_persons_atomic
from signpose.output.storage import OutputError, stops_the_run


def outcome_of(item: Union[Outcome, Extracted], output: Output, stats: Optional[dict] = None) -> Outcome:
    """The engine's Outcome as it is, or an extracted segment written: WRITTEN, or FAILED with the
    reason of a write error that is this segment's alone (a folder in the way). A full or
    unwritable folder raises OutputError: it stops the run."""
    if isinstance(item, Outcome):
        return item
    base = dict(sentence=item.sentence, video=item.video, reader=item.reader)
    paths = segment_files(output.folder, item.sentence, output.formats)
    files = dict(paths)
    if item.hands is not None:  # first, as the persons file: the hand pass's audit file
        files = {'hands': hands_path(output.folder, item.sentence), **files}
    if item.persons is not None:  # first: the outputs mark the segment done, its persons file is there by then
        files = {'persons': persons_path(output.folder, item.sentence), **files}
    with timed(stats, 'write'):
        for fmt, path in files.items():
            try:
                with stops_the_run(path):
                    write_file(fmt, path, item)
            except OutputError:
                raise
            except OSError as err:
                return Outcome(**base, status=FAILED, reason=write_error(err, path))
    note = '' if item.frames == item.sampled else f'video ended early: {item.frames} of {item.sampled} frames'
    return Outcome(**base, status=WRITTEN, reason=note, frames=item.frames, path=str(next(iter(paths.values()))),
                   selection=item.selection, quality=item.quality, hands=item.hands_summary)


def write_error(err: OSError, path) -> str:
    code = errno.errorcode.get(err.errno, err.errno)
    return (f'write error: cannot write {path} ({err.strerror or err}, {code}): fix what is in the way, '
            f'then run the same command: it tries this segment again')


def write_file(fmt: str, path, item: Extracted) -> None:
    """One file of a segment: the (T, 85, C) .npy, the 133-point .pose, the persons file or the
    hand pass's audit file."""
    if fmt == 'persons':
        write_persons_atomic(path, item.persons)
        return
    if fmt == 'hands':
        write_hands_atomic(path, item.hands)
        return
    if fmt == 'npy':
        save_npy_atomic(path, item.rows)
        return
    from signpose.output.pose_file import wholebody_pose, write_pose_atomic  # pose-format: optional
    k = item.keypoints
    write_pose_atomic(path, wholebody_pose(k.xy, k.z, k.scores, k.present, item.width, item.height, item.fps))


def written_frames(paths) -> int:
    """Frames in a segment's written files (the .npy's rows, else the .pose's frames)."""
    if 'npy' in paths:
        return int(np.load(paths['npy'], mmap_mode='r').shape[0])
    from signpose.output.pose_file import read_pose  # pose-format: optional, only for .pose-only runs
    return int(read_pose(paths['pose']).body.data.shape[0])


def already_written(output: Output, segments) -> Tuple[List[Outcome], list]:
    """(Outcomes of the segments whose files all exist, the other segments): what a worker that
    died, or an actor's lost call, wrote before its report could reach the stage."""
    done, todo = [], []
    for seg in segments:
        if is_done(output.folder, seg.sentence_name, output.formats):
            paths = segment_files(output.folder, seg.sentence_name, output.formats)
            done.append(Outcome(seg.sentence_name, seg.video_name, WRITTEN, '', written_frames(paths),
                                str(next(iter(paths.values())))))
        else:
            todo.append(seg)
    return done, todo
