"""One video's work, as every executor runs it: the engine's segments (an Extractor's ``run``),
each written as it comes (output/writer.py). The pool's workers, Ray's actors, the inline executor
and the benchmark all call ``process_video``."""
from contextlib import closing
from typing import Iterator, List, Optional, Tuple

from signpose.api import Extractor
from signpose.config import Output
from signpose.contract.outcomes import FAILED, Outcome
from signpose.data.tasks import VideoTask
from signpose.output.storage import OutputError
from signpose.output.writer import outcome_of


def process_video(task: VideoTask, extractor: Extractor, output: Output,
                  stats: Optional[dict] = None) -> Iterator[Outcome]:
    """One Outcome per segment of the task, each segment's files written before its Outcome is out.
    An OutputError (the folder is full or unwritable) stops the video, and the run."""
    with closing(extractor.run(task, stats)) as items:
        for item in items:
            try:
                outcome = outcome_of(item, output, stats)
            except OutputError:
                raise
            except Exception as err:  # this segment's alone (e.g. a .pose the library cannot build)
                outcome = Outcome(item.sentence, item.video, FAILED, f'{type(err).__name__}: {err}'.strip()[:500],
                                  reader=item.reader)
            yield outcome


def outcomes_until_stop(outcomes: Iterator[Outcome]) -> Tuple[List[Outcome], Optional[OutputError]]:
    """A worker's outcomes of one video, and the OutputError that stopped it, if any: the
    segments written before it reach the driver's ledger, which then stops the run."""
    done: List[Outcome] = []
    try:
        for outcome in outcomes:
            done.append(outcome)
    except OutputError as err:
        return done, err
    return done, None
