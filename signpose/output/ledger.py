"""The ledger: one JSON line per segment outcome (written, skipped, failed), appended as they come."""
import json
import os
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional

from signpose.output.storage import output_error

WRITTEN, SKIPPED, FAILED = 'written', 'skipped', 'failed'
# skip reasons that are final: a rerun does not decode these segments again
MULTIPLE_PERSONS = 'multiple persons detected'
NO_PERSON = 'no person detected'
FINAL_SKIPS = (MULTIPLE_PERSONS, NO_PERSON)


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
    """Every one of ``segments`` failed for ``reason`` (a video that could not be finished)."""
    return [Outcome(s.sentence_name, s.video_name, FAILED, reason, reader=reader) for s in segments]


LEDGER_BATCH = 10_000  # records per write and fsync (the plan's skips), and per parse when read
_ENCODER = json.JSONEncoder(ensure_ascii=False)  # made once: json.dumps(..., ensure_ascii=False) makes one per call


def ledger_path(npy_dir, shard_index: int = 0, num_shards: int = 1) -> Path:
    if num_shards <= 1:
        return Path(npy_dir) / 'ledger.jsonl'
    return Path(npy_dir) / f'ledger.shard-{shard_index:04d}-of-{num_shards:04d}.jsonl'


def read_ledgers(npy_dir) -> Dict[str, Outcome]:
    """The latest outcome of every sentence, from all ledgers (all shards) in ``npy_dir``."""
    latest: Dict[str, tuple] = {}
    for file in sorted(Path(npy_dir).glob('ledger*.jsonl')):
        for record in ledger_records(file):
            try:
                stamp = record.pop('time', 0.0)
                outcome = Outcome(**record)
            except (AttributeError, TypeError):
                continue  # not a record of ours
            if outcome.sentence not in latest or stamp >= latest[outcome.sentence][0]:
                latest[outcome.sentence] = (stamp, outcome)
    return {name: outcome for name, (_, outcome) in latest.items()}


def ledger_records(file) -> Iterator[dict]:
    """The JSON values of a ledger's lines, without the lines cut by a crash. A rerun at
    YouTube-ASL scale reads some 600,000: they are parsed 10,000 to a call, and only a chunk
    that holds a cut line goes line by line."""
    with open(file, encoding='utf-8', newline='\n') as f:
        lines = [line for line in f.read().split('\n') if line.strip()]
    for at in range(0, len(lines), LEDGER_BATCH):
        chunk = lines[at:at + LEDGER_BATCH]
        try:
            yield from json.loads('[' + ','.join(chunk) + ']')
        except ValueError:
            for line in chunk:
                try:
                    yield json.loads(line)
                except ValueError:
                    continue  # a line cut by a crash


class Ledger:
    """Append-only JSON-lines record of outcomes; one writer per file (the driver of a shard)."""

    def __init__(self, path, known: Optional[Dict[str, Outcome]] = None):
        self.path = Path(path)
        self.known = dict(known or {})

    def record(self, outcome: Outcome) -> None:
        """Record one outcome now (one write and fsync): a final outcome is never lost to a kill."""
        self.record_all([outcome])

    def record_all(self, outcomes: Iterable[Outcome], batch: int = LEDGER_BATCH) -> None:
        """Record what is new, ``batch`` records per write and fsync.

        Raises OutputError when the folder is full or not writable; the batch that failed is cut
        back off the file, and the rerun decides those segments again.
        """
        new: Dict[str, Outcome] = {}
        for outcome in outcomes:
            if (new.get(outcome.sentence) or self.known.get(outcome.sentence)) == outcome:
                continue  # nothing new to say (e.g. the same video is still missing)
            new[outcome.sentence] = outcome
            if len(new) >= batch:
                self._append(list(new.values()))
                new.clear()
        if new:
            self._append(list(new.values()))

    def _append(self, outcomes: List[Outcome]) -> None:
        stamp = time.time()
        data = ''.join(_ENCODER.encode(dict(vars(o), time=stamp)) + '\n' for o in outcomes).encode('utf-8')
        try:
            append_on_fresh_line(self.path, data)
        except OSError as err:
            stop = output_error(err, self.path)
            if stop is None:
                raise
            raise stop from None
        self.known.update((o.sentence, o) for o in outcomes)


def append_on_fresh_line(path, data: bytes) -> None:
    """Append whole lines with one write and one fsync, starting on a fresh line: a last line cut
    by a crash is left behind a newline instead of swallowing the first new record. On an error
    (a full disk) the file is cut back to where it ended."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        end = os.fstat(fd).st_size
        if end and os.pread(fd, 1, end - 1) != b'\n':
            data = b'\n' + data
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            with suppress(OSError):
                os.ftruncate(fd, end)
            raise
    finally:
        os.close(fd)
