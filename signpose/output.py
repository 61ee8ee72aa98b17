"""What the stage leaves behind: atomically written .npy files and the ledger of outcomes."""
import json
import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Iterable, Optional

import numpy as np

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


@contextmanager
def atomic_file(path, suffix: str = None):
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    A reader (or a rerun) sees either no file or the whole file, never a partial one; on any
    error or interruption the temporary file is removed.
    """
    path = Path(path)
    suffix = suffix or f'{path.suffix}.tmp'
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.stem}.', suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, 'wb') as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def save_npy_atomic(path, array: np.ndarray) -> None:
    with atomic_file(path) as f:
        np.save(f, array)


def ledger_path(npy_dir, shard_index: int = 0, num_shards: int = 1) -> Path:
    if num_shards <= 1:
        return Path(npy_dir) / 'ledger.jsonl'
    return Path(npy_dir) / f'ledger.shard-{shard_index:04d}-of-{num_shards:04d}.jsonl'


def read_ledgers(npy_dir) -> Dict[str, Outcome]:
    """The latest outcome of every sentence, from all ledgers (all shards) in ``npy_dir``."""
    latest: Dict[str, tuple] = {}
    for file in sorted(Path(npy_dir).glob('ledger*.jsonl')):
        with open(file, encoding='utf-8') as f:
            for line in f:
                try:
                    record = json.loads(line)
                    stamp = record.pop('time', 0.0)
                    outcome = Outcome(**record)
                except (ValueError, TypeError):
                    continue  # a line cut by a crash
                if outcome.sentence not in latest or stamp >= latest[outcome.sentence][0]:
                    latest[outcome.sentence] = (stamp, outcome)
    return {name: outcome for name, (_, outcome) in latest.items()}


class Ledger:
    """Append-only JSON-lines record of outcomes; one writer per file (the driver of a shard)."""

    def __init__(self, path, known: Optional[Dict[str, Outcome]] = None):
        self.path = Path(path)
        self.known = dict(known or {})

    def record(self, outcome: Outcome) -> None:
        previous = self.known.get(outcome.sentence)
        if previous == outcome:
            return  # nothing new to say (e.g. the same video is still missing)
        line = json.dumps(dict(asdict(outcome), time=time.time()), ensure_ascii=False)
        with open(self.path, 'a', encoding='utf-8') as f:
            f.write(line + '\n')
            f.flush()
            os.fsync(f.fileno())
        self.known[outcome.sentence] = outcome

    def record_all(self, outcomes: Iterable[Outcome]) -> None:
        for outcome in outcomes:
            self.record(outcome)
