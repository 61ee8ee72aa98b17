"""The ledger: one JSON line per segment outcome (written, skipped, failed), appended as they come.

Besides the outcomes, a line when a video's work starts and one when it ends (or the stage stops
cleanly while on it): a video started and never ended is one the stage itself died on (a kill,
a segfault, the OOM killer). A video the stage died on in two runs is skipped after that, so one
poisonous input cannot crash every rerun (RETRY_CRASHED = True tries it again).
"""
import json
import os
import time
from collections import defaultdict
from contextlib import suppress
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

from signpose.contract.outcomes import Outcome
from signpose.output.storage import stops_the_run

LEDGER_BATCH = 10_000  # records per write and fsync (the plan's skips), and per parse when read
_ENCODER = json.JSONEncoder(ensure_ascii=False)  # made once: json.dumps(..., ensure_ascii=False) makes one per call


def ledger_path(npy_dir, shard_index: int = 0, num_shards: int = 1) -> Path:
    if num_shards <= 1:
        return Path(npy_dir) / 'ledger.jsonl'
    return Path(npy_dir) / f'ledger.shard-{shard_index:04d}-of-{num_shards:04d}.jsonl'


# a video's events: its work started; it ended (every segment has its outcome); the stage stopped
# cleanly while on it (Ctrl-C, a full disk): neither done nor a crash
STARTED, ENDED, STOPPED = 'started', 'ended', 'stopped'


def read_ledgers(npy_dir) -> Dict[str, Outcome]:
    """The latest outcome of every sentence, from all ledgers (all shards) in ``npy_dir``."""
    return read_ledger_state(npy_dir)[0]


def read_ledger_state(npy_dir) -> Tuple[Dict[str, Outcome], Dict[str, int]]:
    """(the latest outcome of every sentence, the runs the stage died in on each video), from all
    ledgers (all shards) in ``npy_dir``."""
    latest: Dict[str, tuple] = {}
    events: Dict[str, list] = defaultdict(list)
    for number, file in enumerate(sorted(Path(npy_dir).glob('ledger*.jsonl'))):
        for line, record in enumerate(ledger_records(file)):
            try:
                stamp = record.pop('time', 0.0)
                record.pop('run', None)  # which run wrote it: the report's, not the plan's concern
                if 'event' in record:
                    events[record['video']].append((stamp, number, line, record['event']))
                    continue
                outcome = Outcome(**record)
            except (AttributeError, TypeError, KeyError):
                continue  # not a record of ours
            if outcome.sentence not in latest or stamp >= latest[outcome.sentence][0]:
                latest[outcome.sentence] = (stamp, outcome)
    crashes = {video: count for video, count in ((v, stage_crashes(e)) for v, e in events.items()) if count}
    return {name: outcome for name, (_, outcome) in latest.items()}, crashes


def stage_crashes(events) -> int:
    """Runs that died on the video since it last ended: each start not followed by its end or stop."""
    crashes, open_attempt = 0, False
    for *_, event in sorted(events):
        if event == STARTED:
            crashes += open_attempt
            open_attempt = True
        else:
            open_attempt = False
            if event == ENDED:
                crashes = 0  # it was finished after all
    return crashes + open_attempt


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

    def __init__(self, path, known: Optional[Dict[str, Outcome]] = None, run: str = ''):
        self.path = Path(path)
        self.known = dict(known or {})
        self.run = run  # the run record's id (output/provenance.py): every line names it

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

    def video(self, event: str, video: str) -> None:
        """Record that the work on ``video`` started, ended or stopped (one write and fsync)."""
        self._write([self._stamped(dict(event=event, video=video, time=time.time()))])

    def _append(self, outcomes: List[Outcome]) -> None:
        stamp = time.time()
        self._write([self._stamped(dict(o.record(), time=stamp)) for o in outcomes])
        self.known.update((o.sentence, o) for o in outcomes)

    def _stamped(self, record: dict) -> dict:
        if self.run:
            record['run'] = self.run
        return record

    def _write(self, records: List[dict]) -> None:
        data = ''.join(_ENCODER.encode(record) + '\n' for record in records).encode('utf-8')
        with stops_the_run(self.path):
            append_on_fresh_line(self.path, data)


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
