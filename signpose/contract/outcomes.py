"""The outcome of a segment: written, skipped (and why) or failed (and why); one ledger line each.

Its reasons are the stage's vocabulary: planning, the engine, the writer, the executors and the
ledger all use these names, so a reason is spelled, and judged final or not, in one place.
"""
from dataclasses import dataclass
from typing import List, Optional

WRITTEN, SKIPPED, FAILED = 'written', 'skipped', 'failed'
# skip reasons that are final: a rerun does not decode these segments again
MULTIPLE_PERSONS = 'multiple persons detected'
NO_PERSON = 'no person detected'
FINAL_SKIPS = (MULTIPLE_PERSONS, NO_PERSON)
# MULTI_PERSON = 'signer''s skips (each reason goes on after a colon: the scores, the lengths)
AMBIGUOUS_SIGNER = 'ambiguous signer'
NO_TRACK = 'no person tracked long enough'

# a video the stage itself died on in CRASH_LIMIT runs is skipped (RETRY_CRASHED tries it again)
CRASH_LIMIT = 2
CRASHED = 'crashed the stage twice'
RETRY_HINT = 'to try it again: --cfg-options RETRY_CRASHED=True'


@dataclass
class Outcome:
    sentence: str
    video: str
    status: str  # written | skipped | failed
    reason: str = ''
    frames: int = 0
    path: str = ''
    reader: str = ''  # the decoder that read the video and its codec, e.g. 'pyav av1'
    # MULTI_PERSON 'largest' / 'signer': how the segment's person was chosen (engine/signer.py's
    # Selection.audit); None for segments of one person, and in ledgers written before it
    selection: Optional[dict] = None
    # the segment's quality measures (engine/quality.py); None for skips before any frame, and in
    # ledgers written before them
    quality: Optional[dict] = None
    # the hand pass (HAND_MODEL_CONFIG), per hand: the share of hand points replaced, the mean score
    # before and after, frames with a box, frames that kept the whole-body values and why
    # (engine/hand_fusion.py); None without a hand pass, and in ledgers written before it
    hands: Optional[dict] = None

    def is_final(self, multi_person: str = 'skip') -> bool:
        """Whether a rerun with MULTI_PERSON = ``multi_person`` leaves the segment as it is: one
        skipped for several persons is processed again in another mode, and one the signer rule
        skipped is final for that rule only."""
        if self.status == WRITTEN:
            return True
        if self.status != SKIPPED:
            return False
        kind = self.reason.split(':')[0]
        if kind == MULTIPLE_PERSONS:
            return multi_person == 'skip'
        if kind in (AMBIGUOUS_SIGNER, NO_TRACK):
            return multi_person == 'signer'
        return self.reason in FINAL_SKIPS

    def record(self) -> dict:
        """The ledger line's fields: ``selection`` only where there is one (the lines of segments
        of one person are as they always were)."""
        fields = dict(vars(self))
        for optional in ('selection', 'quality', 'hands'):
            if fields[optional] is None:
                del fields[optional]
        return fields


def failures(segments, reason: str, reader: str = '') -> List[Outcome]:
    """Every one of ``segments`` (manifest segments) failed for ``reason``."""
    return [Outcome(s.sentence_name, s.video_name, FAILED, reason, reader=reader) for s in segments]


def crashed_reason(crashes: int) -> str:
    return f'{CRASHED} (the stage died while on this video in {crashes} runs; {RETRY_HINT})'
