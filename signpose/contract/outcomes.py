"""The outcome of a segment: written, skipped (and why) or failed (and why); one ledger line each.

Its reasons are the stage's vocabulary: planning, the engine, the writer, the executors and the
ledger all use these names, so a reason is spelled, and judged final or not, in one place.
"""
from dataclasses import dataclass
from typing import List

WRITTEN, SKIPPED, FAILED = 'written', 'skipped', 'failed'
# skip reasons that are final: a rerun does not decode these segments again
MULTIPLE_PERSONS = 'multiple persons detected'
NO_PERSON = 'no person detected'
FINAL_SKIPS = (MULTIPLE_PERSONS, NO_PERSON)

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

    def is_final(self) -> bool:
        return self.status == WRITTEN or (self.status == SKIPPED and self.reason in FINAL_SKIPS)


def failures(segments, reason: str, reader: str = '') -> List[Outcome]:
    """Every one of ``segments`` (manifest segments) failed for ``reason``."""
    return [Outcome(s.sentence_name, s.video_name, FAILED, reason, reader=reader) for s in segments]


def crashed_reason(crashes: int) -> str:
    return f'{CRASHED} (the stage died while on this video in {crashes} runs; {RETRY_HINT})'
