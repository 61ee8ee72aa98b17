"""Convert the stage's .npy files to .pose files (pose-format), one beside each .npy (or into --out).

    python scripts/3b_npy_to_pose.py                      # every .npy in NPY_DIR
    python scripts/3b_npy_to_pose.py /data/npy --out /data/pose
    python scripts/3b_npy_to_pose.py a.npy b.npy --width 1280 --height 720
    python scripts/3b_npy_to_pose.py --cfg-options NPY_DIR=/data/npy VIDEO_DIR=/data/videos

A .pose file holds pixels, so each file needs its frame size: --width and --height for all files,
else the size of its video in VIDEO_DIR (the video is named by the ledger beside the .npy, or by
the manifest CSV_FILE). The frame rate: --fps, else the rate the stage sampled the video at
(REDUCE_FPS_TO, 24, or less for a slower video). The .pose keeps the file's 85 points (see
signpose/pose_file.py). Existing .pose files are kept unless --overwrite.
Exit status: 0 every file converted or already there, 1 some file could not be converted,
2 the run cannot start.
"""
import sys
from pathlib import Path

from signpose.config import Sampling
from signpose.data.locate import SegmentVideos
from signpose.data.manifest import ManifestError
from signpose.output.files import load_array
from signpose.output.ledger import read_ledgers
from signpose.output.pose_file import array_problem, pose_from_npy, write_pose_atomic


class Unconvertible(Exception):
    """One file that cannot be converted, with the reason in one line."""


class FrameSizes:
    """(width, height, fps) for a sentence: from the arguments, or from its video."""

    def __init__(self, videos: SegmentVideos, sampling: Sampling, width=None, height=None, fps=None):
        self.sampling, self.width, self.height, self.fps = sampling, width, height, fps
        self._ledgers, self._manifest, self.videos = {}, None, videos

    def video_name(self, sentence: str, folder: Path):
        if folder not in self._ledgers:
            self._ledgers[folder] = read_ledgers(folder)
        outcome = self._ledgers[folder].get(sentence)
        if outcome is not None and outcome.video:
            return outcome.video
        if self._manifest is None:
            try:
                self._manifest = {name: s.video_name for name, s in self.videos.segments().items()}
            except ManifestError as err:
                print(f'note: {err}; videos are found through ledgers only', file=sys.stderr)
                self._manifest = {}
        return self._manifest.get(sentence)

    def video(self, name: str):
        located = self.videos.video(name)
        return located.info, located.problem

    def of(self, npy: Path):
        if self.width and self.height:
            fps = self.fps or self.sampling.fps
            if not fps:
                raise Unconvertible('REDUCE_FPS_TO is None (FRAME_SKIP sampling): pass --fps')
            return self.width, self.height, float(fps)
        name = self.video_name(npy.stem, npy.parent)
        if name is None:
            raise Unconvertible('frame size unknown: not in the ledger nor the manifest; pass --width and --height')
        info, why = self.video(name)
        if info is None:
            raise Unconvertible(f'frame size unknown: {why}; pass --width and --height')
        return info.width, info.height, float(self.fps or self.sampling.rate(info.fps))


def npy_files(paths, default_dir):
    """The .npy files named, or in the folders named (default: NPY_DIR), sorted; and missing paths."""
    files, missing = [], []
    for path in map(Path, paths or [default_dir]):
        if path.is_dir():
            files.extend(sorted(p for p in path.glob('*.npy') if not p.name.startswith('.')))
        elif path.is_file():
            files.append(path)
        else:
            missing.append(path)
    return files, missing


def convert(npy: Path, out: Path, sizes: FrameSizes, keypoint_idx) -> None:
    try:
        array = load_array(npy)
    except ValueError as err:
        raise Unconvertible(str(err)) from None
    problem = array_problem(array, len(keypoint_idx))
    if problem:
        raise Unconvertible(problem)
    width, height, fps = sizes.of(npy)  # after the array's checks: no video is probed for a bad file
    try:
        pose = pose_from_npy(array, keypoint_idx, width, height, fps)
    except ValueError as err:
        raise Unconvertible(str(err)) from None
    write_pose_atomic(out, pose)

