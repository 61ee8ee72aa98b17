"""Every segment of a run accounted for: the ledgers (all shards) read once, then every manifest
row put in one group (a bad row, never processed, written, truncated, file gone, skipped or failed
by reason), and the ledger's segments the manifest does not name.

Plain values in, plain values out (no settings object): the report (qa/report.py) lays them out.
"""
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from signpose.contract.outcomes import CRASHED, FAILED, MULTIPLE_PERSONS, SKIPPED, WRITTEN
from signpose.data.manifest import ManifestError, read_manifest

TRUNCATED = 'video ended early'  # output/writer.py's note on a segment cut short by its video
CUT_NAMED = 20  # cut ledger lines named on the page (file and line)

# the groups, in the order of the page; skipped and failed ones go on with their reason
BAD_ROW, NEVER, OK, SHORT, GONE, STRAY = ('bad manifest row', 'never processed', 'written',
                                          'written, truncated', 'written, file gone', 'not in the manifest')


@dataclass
class Ledgers:
    """What the ledgers say: the latest record of each sentence, and what could not be read."""
    latest: Dict[str, dict] = field(default_factory=dict)
    files: List[str] = field(default_factory=list)
    lines: int = 0
    cut: int = 0  # lines that are not JSON (cut by a crash)
    cut_at: List[str] = field(default_factory=list)  # 'file:line' of the first CUT_NAMED
    unreadable: List[str] = field(default_factory=list)  # 'file: why' for a ledger that cannot be opened
    videos_open: Dict[str, int] = field(default_factory=dict)  # video -> runs that died on it


def read_ledgers(npy_dir: Path) -> Ledgers:
    """The latest record of every sentence from ``npy_dir``'s ledgers; a line that is not JSON, or
    a file that cannot be read, is counted and named, never raised."""
    found = Ledgers(files=[f.name for f in sorted(Path(npy_dir).glob('ledger*.jsonl'))])
    stamps: Dict[str, float] = {}
    events: Dict[str, List[Tuple[float, str]]] = defaultdict(list)
    decoder = json.JSONDecoder()
    for name in found.files:
        try:
            with open(Path(npy_dir) / name, encoding='utf-8', errors='replace') as f:
                text = f.read()
        except OSError as err:
            found.unreadable.append(f'{name}: {err.strerror or err}')
            continue
        for number, record in parsed(text, decoder):
            found.lines += 1
            if record is CUT:
                found.cut += 1
                if len(found.cut_at) < CUT_NAMED:
                    found.cut_at.append(f'{name}:{number}')
                continue
            if not isinstance(record, dict):
                found.cut += 1
                continue
            if 'event' in record:
                events[str(record.get('video'))].append((record.get('time') or 0.0, record['event']))
                continue
            sentence = record.get('sentence')
            if not isinstance(sentence, str):
                continue
            stamp = record.get('time') or 0.0
            if stamp >= stamps.get(sentence, -1.0):
                stamps[sentence] = stamp
                found.latest[sentence] = record
    for video, happened in events.items():
        open_runs = 0
        for _, event in sorted(happened):
            open_runs = open_runs + 1 if event == 'started' else (0 if event == 'ended' else open_runs)
        if open_runs:
            found.videos_open[video] = open_runs
    return found


CUT = object()  # a line that is not JSON
CHUNK = 10_000  # lines parsed by one call (output/ledger.py's way: one json call per chunk)


def parsed(text: str, decoder: json.JSONDecoder):
    """(line number, its JSON value or CUT) of every line that is not blank; chunk by chunk, and
    line by line only in a chunk that holds a cut line."""
    numbered = [(n, line) for n, line in enumerate(text.split('\n'), 1) if line.strip()]
    for at in range(0, len(numbered), CHUNK):
        chunk = numbered[at:at + CHUNK]
        try:
            values = decoder.decode('[' + ','.join(line for _, line in chunk) + ']')
            if len(values) != len(chunk):
                raise ValueError('a line held more than one value')
            yield from zip((n for n, _ in chunk), values)
        except ValueError:
            for n, line in chunk:
                try:
                    yield n, decoder.decode(line)
                except ValueError:
                    yield n, CUT


def reason_kind(record: dict) -> str:
    """A skip's or failure's reason without its details (before the first colon)."""
    return str(record.get('reason', '')).split(':')[0].strip() or '?'


def group_of(record: dict, present: set, formats: Iterable[str] = ('npy', 'pose')) -> str:
    """The group of a segment with a ledger record."""
    status = record.get('status')
    if status == WRITTEN:
        name = record['sentence']
        if not any(f'{name}.{fmt}' in present for fmt in formats):
            return GONE
        return SHORT if str(record.get('reason', '')).startswith(TRUNCATED) else OK
    if status in (SKIPPED, FAILED):
        return f'{status}: {reason_kind(record)}'
    return f'{status}: ?'


@dataclass
class Member:
    """One row of the coverage CSV."""
    group: str
    sentence: str
    video: str = ''
    line: Optional[int] = None  # in the manifest
    detail: str = ''
    run: str = ''


@dataclass
class Coverage:
    manifest: str
    manifest_state: str  # '' when read; else why not (gone, unreadable)
    rows: int = 0  # manifest rows (good and bad)
    groups: Dict[str, List[Member]] = field(default_factory=dict)
    segments: Dict[str, object] = field(default_factory=dict)  # sentence -> its manifest Segment

    def count(self, group: str) -> int:
        return len(self.groups.get(group, ()))

    def members(self) -> Iterable[Member]:
        for items in self.groups.values():
            yield from items


def account(manifest: Optional[str], ledgers: Ledgers, present: set) -> Coverage:
    """Every manifest row in one group; the ledger's segments the manifest does not name apart.
    A manifest that cannot be read: the ledger's segments only, and ``manifest_state`` says why."""
    groups: Dict[str, List[Member]] = defaultdict(list)
    state = ''
    segments, bad = [], []
    if not manifest:
        state = 'no run record names the manifest (CSV_FILE)'
    else:
        try:
            segments, bad = read_manifest(manifest)
        except ManifestError as err:
            state = str(err)
    cover = Coverage(manifest=str(manifest or ''), manifest_state=state, rows=len(segments) + len(bad),
                     segments={s.sentence_name: s for s in segments})
    for row in bad:
        groups[BAD_ROW].append(Member(BAD_ROW, '', '', row.line, row.reason))
    named = set()
    for segment in segments:
        name = segment.sentence_name
        named.add(name)
        record = ledgers.latest.get(name)
        if record is None:
            groups[NEVER].append(Member(NEVER, name, segment.video_name))
            continue
        group = group_of(record, present)
        groups[group].append(Member(group, name, segment.video_name, None, str(record.get('reason', '')),
                                    str(record.get('run', ''))))
    for name, record in ledgers.latest.items():
        if name in named:
            continue
        group = group_of(record, present) if state else STRAY
        detail = str(record.get('reason', '')) if state else f"{record.get('status')}: {record.get('reason', '')}".rstrip(': ')
        groups[group].append(Member(group, name, str(record.get('video', '')), None, detail, str(record.get('run', ''))))
    cover.groups = dict(sorted(groups.items(), key=lambda kv: group_order(kv[0])))
    return cover


def group_order(group: str) -> tuple:
    fixed = [BAD_ROW, NEVER, 'failed', GONE, SHORT, 'skipped', OK, STRAY]
    head = group.split(':')[0]
    return (fixed.index(group) if group in fixed else fixed.index(head) if head in fixed else len(fixed), group)


def needs_action(group: str) -> bool:
    """Groups a curator acts on (the page puts them first, in red)."""
    return group in (BAD_ROW, NEVER, GONE, SHORT) or group.startswith(FAILED) or group.startswith(f'{SKIPPED}: {CRASHED}')


def action(group: str, rerun: str, viewer: str) -> str:
    """The command (or the step) that acts on a group. ``rerun``: the run's own command line;
    ``viewer``: the viewer's, with NAME for the segment."""
    if group == BAD_ROW:
        return 'fix these lines of the manifest, then rerun: ' + rerun
    if group in (NEVER, GONE) or group.startswith(FAILED):
        return 'rerun (it continues where it stopped and tries failed segments again): ' + rerun
    if group.startswith(f'{SKIPPED}: {CRASHED}'):
        return rerun + ' RETRY_CRASHED=True' if '--cfg-options' in rerun else rerun + ' --cfg-options RETRY_CRASHED=True'
    if group.startswith(f'{SKIPPED}: {MULTIPLE_PERSONS}'):
        return ('to keep the signer instead: ' + (rerun + ' MULTI_PERSON=signer' if '--cfg-options' in rerun
                                                  else rerun + ' --cfg-options MULTI_PERSON=signer'))
    if group == SHORT or group == OK:
        return 'look at one: ' + viewer
    if group == STRAY:
        return 'the manifest changed since the run, or the folder holds another manifest\'s files'
    return ''


def summary_counts(cover: Coverage) -> Counter:
    return Counter({group: len(items) for group, items in cover.groups.items()})
