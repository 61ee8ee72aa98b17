"""What an executor tells the stage besides outcomes: a video started or ended, a worker replaced.

The executors yield these among the segments' Outcomes; the stage writes the video events to
the ledger (a video started and never ended is one the stage died on: see output/ledger.py).
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class VideoStarted:
    """Yielded before the video's work starts: the ledger has it before any frame is read."""
    video: str


@dataclass(frozen=True)
class VideoEnded:
    """Every segment of the video has its outcome (written, skipped or failed)."""
    video: str


@dataclass(frozen=True)
class WorkerReplaced:
    """A worker process died (``cause``, e.g. 'signal 9 (SIGKILL)') and a new one took its place."""
    cause: str
    video: str = ''  # the video it was on, if any
