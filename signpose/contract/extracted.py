"""A segment the engine has finished and that is to be written: what goes from the engine to the
writer (output/writer.py), which turns it into files and an Outcome."""
from dataclasses import dataclass
from typing import Optional

import numpy as np

from signpose.contract.rows import NUM_COCO_WHOLEBODY


@dataclass
class Keypoints:
    """A segment's frames as the pose model gave them (for OUTPUT_FORMATS 'pose'): image pixels,
    z, raw scores, and which frames had a person."""
    xy: np.ndarray  # (T, 133, 2) float32
    z: np.ndarray  # (T, 133) float32
    scores: np.ndarray  # (T, 133) float32
    present: np.ndarray  # (T,) bool

    @classmethod
    def empty(cls, frames: int) -> 'Keypoints':
        k = NUM_COCO_WHOLEBODY
        return cls(np.zeros((frames, k, 2), np.float32), np.zeros((frames, k), np.float32),
                   np.zeros((frames, k), np.float32), np.zeros(frames, bool))

    def put(self, position: int, pose) -> None:
        xy, z, scores = pose
        self.xy[position], self.z[position], self.scores[position] = xy, z, scores
        self.present[position] = True

    def first(self, frames: int) -> 'Keypoints':
        return Keypoints(self.xy[:frames], self.z[:frames], self.scores[:frames], self.present[:frames])


@dataclass
class Extracted:
    """One segment's landmarks: ``rows`` (frames, 85, C) of the .npy, ``keypoints`` for a .pose
    (None unless OUTPUT_FORMATS has 'pose'), and the video's frame size and sampled rate."""
    sentence: str
    video: str
    reader: str  # the decoder and codec, for the ledger
    rows: np.ndarray
    keypoints: Optional[Keypoints]
    sampled: int  # frames the segment samples; len(rows) is fewer when the video ended early
    width: int
    height: int
    fps: float  # frames per second of the rows
    # MULTI_PERSON 'largest' / 'signer', a segment where some frame had several persons: the
    # ledger's record of the choice, and the persons file (every box per frame, the one kept)
    selection: Optional[dict] = None
    persons: Optional[dict] = None
    quality: Optional[dict] = None  # engine/quality.py's measures, for the ledger
    # the hand pass (HAND_MODEL_CONFIG): its audit file's record (every frame's hand boxes; output/
    # hands.py) and the ledger's summary per hand (engine/hand_fusion.py); None without a hand pass
    hands: Optional[dict] = None
    hands_summary: Optional[dict] = None

    @property
    def frames(self) -> int:
        return len(self.rows)
