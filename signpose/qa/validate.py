"""Check the stage's output against its contract and summarise it for a person to read.

Every NPY_DIR/*.npy is loaded and checked: shape (T, 85, C) with C = 4 (ADD_VISIBLE) or 3,
float32, finite, x / y / visibility within [0, 1], and T within one frame of what the stage
samples for the segment's manifest row. A .pose beside a .npy must say what the .npy says
(header, frame count, masked frames, the 85 rows recomputed from it); a .pose alone (OUTPUT_FORMATS
('pose',)) is checked for its header, confidence and frame count. The ledger(s) say why segments
have no file.
Exit status: 0 all files pass, 1 some file fails, 2 the check itself cannot run.
"""
import math
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
from tqdm import tqdm

from signpose.config import Options, Rows
from signpose.data.manifest import ManifestError, read_manifest
from signpose.data.sampling import sample_frames
from signpose.data.locate import SegmentVideos
from signpose.output.files import load_array
from signpose.contract.outcomes import FAILED, SKIPPED, WRITTEN
from signpose.contract.rows import NUM_COCO_WHOLEBODY, channels as row_channels
from signpose.output.ledger import read_ledgers

RULE = '=' * 72
PARTS = ('body', 'face', 'left hand', 'right hand')
T_TOLERANCE = 1  # frames; the fps-free estimate is off by at most one


class ValidationError(RuntimeError):
    """The check cannot run at all (no output folder, no manifest)."""


def part_of(coco_index: int) -> str:
    """Body part of a COCO-WholeBody keypoint (0-22 body and feet, 23-90 face, then the hands)."""
    if coco_index < 23:
        return 'body'
    if coco_index < 91:
        return 'face'
    return 'left hand' if coco_index < 112 else 'right hand'


@dataclass
class FileCheck:
    """The verdict on one file: failures break the contract, warnings are for a person to look at."""
    sentence: str
    frames: int = 0
    failures: List[Tuple[str, str]] = field(default_factory=list)  # (kind, detail)
    warnings: List[Tuple[str, str]] = field(default_factory=list)
    empty_frames: int = 0
    visibility: Dict[str, Tuple[float, int]] = field(default_factory=dict)  # part -> (sum, count)

    @property
    def ok(self) -> bool:
        return not self.failures


def check_array(array: np.ndarray, rows: Rows) -> List[Tuple[str, str]]:
    """Contract violations of one loaded array (``rows``: what a frame's row holds), as (kind, detail);
    empty when it conforms."""
    keypoints = len(rows.keypoints)
    channels = row_channels(rows.visibility)
    wanted = f'(T, {keypoints}, {channels})'
    if array.ndim != 3:
        return [('shape', f'shape {array.shape}, expected {wanted}')]
    problems = []
    if array.shape[1] != keypoints:
        problems.append(('keypoints', f'{array.shape[1]} keypoints, expected {keypoints}'))
    if array.shape[2] != channels:
        problems.append(('channels', f'{array.shape[2]} channels, expected {channels} '
                                     f'(ADD_VISIBLE={rows.visibility})'))
    if array.dtype != np.float32:
        problems.append(('dtype', f'dtype {array.dtype}, expected float32'))
    if array.shape[0] == 0:
        problems.append(('empty', 'no frames (T = 0)'))
    if problems or not np.issubdtype(array.dtype, np.floating):
        return problems  # value checks need the right layout
    finite = np.isfinite(array)
    if not finite.all():
        frame = int(np.argwhere(~finite)[0][0])
        problems.append(('non-finite', f'{int((~finite).sum())} NaN/inf value(s), first in frame {frame}'))
    names = ('x', 'y', None, 'visibility')
    for channel in range(channels):
        if names[channel] is None:
            continue  # z: root-relative metres, any finite value
        values = array[..., channel]
        outside = (values < 0) | (values > 1)  # NaN compares False: reported above
        if outside.any():
            frame = int(np.argwhere(outside)[0][0])
            low, high = np.nanmin(values), np.nanmax(values)
            problems.append((f'{names[channel]} range',
                             f'{names[channel]} outside [0, 1] in {int(outside.sum())} value(s) '
                             f'(min {low:.3g}, max {high:.3g}), first in frame {frame}'))
    return problems


def array_stats(array: np.ndarray, options: Options, check: FileCheck) -> None:
    """Frames without a person (all-zero rows) and visibility sums per part, into ``check``."""
    person = np.any(array != 0, axis=(1, 2))
    check.empty_frames = int((~person).sum())
    if array.shape[2] < 4 or not person.any():
        return
    visible = array[person, :, 3]
    columns = defaultdict(list)
    for position, coco_index in enumerate(options.output.rows.keypoints):
        columns[part_of(coco_index)].append(position)
    for part, positions in columns.items():
        values = visible[:, positions]
        check.visibility[part] = (float(values.sum()), int(values.size))


class ExpectedFrames:
    """T per sentence as the stage computes it; each video is probed once, for its frames' times."""

    def __init__(self, options: Options, segments, videos: Optional[SegmentVideos] = None):
        self.options = options
        self.segments = {s.sentence_name: s for s in segments}
        self.videos = videos or SegmentVideos(options.manifest, options.video_dir, options.sampling.video_backend)

    def video(self, video_name: str) -> Optional[tuple]:
        """(fps, the frames' times for a variable rate or None), or None without a readable video."""
        located = self.videos.video(video_name)
        if located.info is None:
            return None
        return located.info.fps, located.timeline.times if located.timeline is not None else None

    def of(self, sentence: str) -> Tuple[Optional[int], str]:
        """(expected T or None, how it was found)."""
        seg = self.segments.get(sentence)
        if seg is None:
            return None, 'not in manifest'
        o = self.options
        video = self.video(seg.video_name)
        if video is not None:
            fps, times = video
            frames = sample_frames(fps, seg.start, seg.end, o.sampling.fps, o.sampling.frame_skip, times)
            return len(frames), f'video at {fps:g} fps' if times is None else 'video at a variable frame rate'
        if o.sampling.fps:
            # without the video: floor(duration * rate) is within one frame of the sampler's count
            estimate = math.floor(seg.duration * o.sampling.fps + 1e-9)
            return estimate, 'no readable video: estimated from the duration'
        return None, 'no readable video, and FRAME_SKIP sampling needs its fps'


def check_file(path: Path, options: Options, expected: ExpectedFrames, ledger) -> FileCheck:
    check = FileCheck(path.stem)
    try:
        array = load_array(path)
    except ValueError as err:  # truncated, corrupt, not a .npy: a verdict, not a crash
        check.failures.append(('unreadable', str(err)))
        return check
    check.frames = int(array.shape[0]) if array.ndim else 0
    check.failures.extend(check_array(array, options.output.rows))
    want, how = expected.of(check.sentence)
    if want is None:
        kind = 'not in manifest' if how == 'not in manifest' else 'T not checked'
        check.warnings.append((kind, how))
    elif array.ndim == 3 and abs(array.shape[0] - want) > T_TOLERANCE:
        detail = f'T = {array.shape[0]} frames, expected {want} ({how})'
        outcome = ledger.get(check.sentence)
        if outcome is not None and outcome.status == WRITTEN and outcome.frames == array.shape[0] \
                and 'video ended early' in outcome.reason:
            check.warnings.append(('short video', f'{detail}; ledger: {outcome.reason}'))
        else:
            check.failures.append(('frame count', detail))
    pose = path.with_suffix('.pose')
    if pose.exists():  # OUTPUT_FORMATS 'pose' (or the converter): it must say what the .npy says
        from signpose.output.pose_file import check_pose_file  # pose-format: optional, only where .pose files are
        check.failures.extend(('pose file', f'{pose.name}: {problem}')
                              for problem in check_pose_file(pose, array, options.output.rows.keypoints))
    if check.ok:
        array_stats(array, options, check)
        if check.empty_frames == check.frames:
            check.warnings.append(('no person', 'no frame has a person (the stage skips such segments)'))
    return check


def table(header, rows, indent='  ', width=110) -> str:
    """Left-aligned text columns; the last column is cut to keep lines readable."""
    rows = [[str(c) for c in r] for r in rows]
    sizes = [max(len(str(h)), *(len(r[i]) for r in rows)) if rows else len(str(h)) for i, h in enumerate(header)]
    lines = []
    for r in [list(map(str, header))] + rows:
        line = '  '.join(c.ljust(sizes[i]) for i, c in enumerate(r[:-1]))
        line = f'{indent}{line}  {r[-1]}' if len(r) > 1 else f'{indent}{r[-1]}'
        lines.append(line if len(line) <= width else line[:width - 3] + '...')
    return '\n'.join(lines)


def summarise_files(checks: List[FileCheck], options: Options, show: int) -> List[str]:
    passing = [c for c in checks if c.ok]
    failing = [c for c in checks if not c.ok]
    warned = [c for c in checks if c.warnings]
    frames = sum(c.frames for c in passing)
    empty = sum(c.empty_frames for c in passing)
    lines = [f'  files                  {len(checks)} ({len(passing)} pass, {len(failing)} fail, '
             f'{len(warned)} with warnings)',
             f'  frames                 {frames:,} in passing files']
    if frames:
        lines.append(f'  frames with no person  {100 * empty / frames:.1f} % ({empty:,})')
    totals = {p: [0.0, 0] for p in PARTS}
    for c in passing:
        for part, (total, count) in c.visibility.items():
            totals[part][0] += total
            totals[part][1] += count
    parts = [p for p in PARTS if totals[p][1]]
    if parts:
        lines.append('  mean visibility (frames with a person):')
        lines.append(table(parts, [[f'{totals[p][0] / totals[p][1]:.2f}' for p in parts]], indent='    '))
    elif options.output.rows.visibility is False:
        lines.append('  mean visibility        - (ADD_VISIBLE=False: no visibility channel)')
    for title, group, attr in (('Failing files', failing, 'failures'), ('Warnings', warned, 'warnings')):
        if not group:
            continue
        kinds = Counter(kind for c in group for kind, _ in getattr(c, attr))
        lines.append(f'{title} ({len(group)}): ' + ', '.join(f'{k} {n}' for k, n in kinds.most_common()))
        rows = [[f'{c.sentence}.npy', '; '.join(d for _, d in getattr(c, attr))] for c in group[:show]]
        lines.append(table(['file', 'reason'], rows))
        if len(group) > show:
            lines.append(f'  ... and {len(group) - show} more (--show N lists more)')
    return lines


def summarise_ledger(options: Options, segments, checks: List[FileCheck], show: int, bad_rows=()) -> List[str]:
    ledgers = sorted(Path(options.output.folder).glob('ledger*.jsonl'))
    if not ledgers:
        return ['Ledger: none in NPY_DIR (no run has recorded outcomes here)'] + bad_row_lines(bad_rows, show)
    outcomes = read_ledgers(options.output.folder)
    status = Counter(o.status for o in outcomes.values())
    lines = [f'Ledger ({len(ledgers)} file(s)): {len(outcomes)} segments: ' +
             ', '.join(f'{status[s]} {s}' for s in (WRITTEN, SKIPPED, FAILED))]
    missed = [o for o in outcomes.values() if o.status in (SKIPPED, FAILED)]
    reasons = Counter((o.status, o.reason.split(':')[0]) for o in missed)
    for (state, reason), count in sorted(reasons.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f'  {state} ({reason}): {count}')
    if missed:
        lines.append(table(['segment', 'status', 'reason'],
                           [[o.sentence, o.status, o.reason] for o in missed[:show]]))
        if len(missed) > show:
            lines.append(f'  ... and {len(missed) - show} more')
    # the manifest's view: which segments have a file, which were given up, which never ran
    have = {c.sentence for c in checks}
    names = [s.sentence_name for s in segments]
    written_missing = [n for n in names if n not in have and n in outcomes and outcomes[n].status == WRITTEN]
    counts = Counter('file' if n in have else outcomes[n].status if n in outcomes else 'not run' for n in names)
    lines.append(f'Manifest: {len(names) + len(bad_rows)} rows: {counts["file"]} with a file, {counts[SKIPPED]} '
                 f'skipped, {counts[FAILED]} failed, {counts["not run"]} never processed, {len(bad_rows)} bad rows')
    never = [n for n in names if n not in have and n not in outcomes]
    if never:
        lines.append(f'  never processed: {", ".join(never[:show])}{" ..." if len(never) > show else ""} '
                     '(run the stage again: it does only what is left)')
    if written_missing:
        lines.append(f'  WARNING: {len(written_missing)} written in the ledger but their file is gone, '
                     f'e.g. {", ".join(written_missing[:5])}')
    return lines + bad_row_lines(bad_rows, show)


def bad_row_lines(bad_rows, show: int) -> List[str]:
    """The manifest's rows the stage cannot use, by line and reason: they are not segments, so no
    run will ever process them until the manifest is fixed."""
    if not bad_rows:
        return []
    lines = [f'Bad manifest rows ({len(bad_rows)}, never processed until fixed in the manifest):',
             table(['line', 'reason'], [[str(b.line), b.reason] for b in bad_rows[:show]])]
    if len(bad_rows) > show:
        lines.append(f'  ... and {len(bad_rows) - show} more (--show N lists more)')
    return lines


def check_pose_alone(path: Path, options: Options, expected: ExpectedFrames, ledger) -> FileCheck:
    """A .pose without its .npy (OUTPUT_FORMATS = ('pose',)): readable by pose-format, the
    COCO-WholeBody XYZC header, confidence in [0, 1], and the frame count of the segment."""
    from signpose.output.pose_file import POINT_FORMAT, read_pose  # pose-format: optional, as above
    check = FileCheck(path.stem)
    try:
        pose = read_pose(path)
    except Exception as err:
        check.failures.append(('unreadable', f'{path.name}: pose-format cannot read it: {type(err).__name__}: {err}'[:300]))
        return check
    check.frames = int(pose.body.data.shape[0])
    if pose.header.total_points() != NUM_COCO_WHOLEBODY or {c.format for c in pose.header.components} != {POINT_FORMAT}:
        check.failures.append(('pose file', f'{path.name}: not the {NUM_COCO_WHOLEBODY}-point {POINT_FORMAT} COCO-WholeBody header'))
    confidence = np.asarray(pose.body.confidence)
    if not ((confidence >= 0) & (confidence <= 1)).all():
        check.failures.append(('pose file', f'{path.name}: confidence outside [0, 1]'))
    want, how = expected.of(check.sentence)
    outcome = ledger.get(check.sentence)
    ended_early = outcome is not None and outcome.frames == check.frames and 'video ended early' in outcome.reason
    if want is not None and abs(check.frames - want) > T_TOLERANCE and not ended_early:
        check.failures.append(('frame count', f'{path.name}: T = {check.frames} frames, expected {want} ({how})'))
    return check


def validate(options: Options, show: int = 50) -> Tuple[int, List[FileCheck], str]:
    """(exit status, per-file checks, the printed report)."""
    npy_dir = Path(options.output.folder)
    if not npy_dir.is_dir():
        raise ValidationError(f'NPY_DIR {npy_dir} is not a folder (pass --cfg-options NPY_DIR=...)')
    try:
        segments, bad_rows = read_manifest(options.manifest)
    except ManifestError as err:
        raise ValidationError(str(err)) from None
    files = sorted(npy_dir.glob('*.npy'))
    expected = ExpectedFrames(options, segments)
    ledger = read_ledgers(npy_dir)
    checks = [check_file(f, options, expected, ledger)
              for f in tqdm(files, unit='file', file=sys.stderr, disable=None, leave=False)]
    poses_alone = [p for p in sorted(npy_dir.glob('*.pose')) if not p.with_suffix('.npy').exists()]
    checks += [check_pose_alone(p, options, expected, ledger) for p in poses_alone]
    channels = row_channels(options.output.rows.visibility)
    lines = [RULE, f'Stage 3b output check: {npy_dir}',
             f'  manifest  {options.manifest} ({len(segments)} segments'
             f'{f", {len(bad_rows)} bad rows" if bad_rows else ""})',
             f'  contract  (T, {len(options.output.rows.keypoints)}, {channels}) float32; x, y'
             f'{", visibility" if channels == 4 else ""} in [0, 1]; T within {T_TOLERANCE} of the sampled frames',
             '-' * 72]
    lines += summarise_files(checks, options, show) if checks else ['  no .npy or .pose files in NPY_DIR']
    leftovers = list(npy_dir.glob('.*.npy.tmp'))
    if leftovers:
        lines.append(f'  note: {len(leftovers)} temporary file(s) .*.npy.tmp left by an interrupted write '
                     '(safe to delete)')
    lines.append('-' * 72)
    lines += summarise_ledger(options, segments, checks, show=min(show, 20), bad_rows=bad_rows)
    failing = sum(not c.ok for c in checks)
    lines += [RULE, f'Result: FAIL ({failing} of {len(checks)} files break the contract)' if failing
              else f'Result: OK ({len(checks)} files)']
    return (1 if failing else 0), checks, '\n'.join(lines)

