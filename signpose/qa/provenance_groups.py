"""Runs grouped by what decides their output: the checkpoints' and configs' hashes, the settings
that decide the output (output/provenance.py's ``deciding_settings``, overrides included), the
libraries' versions, the precision and backend, and the code (git commit and dirty tree, or the
package's version). One group is a folder made one way; more than one, a checkpoint that is not
the official file its link names, or code that is not a clean commit is a red banner on the page.

Records of an older version (without the hashes of the effective settings or the code) are
grouped by what they do hold.
"""
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from signpose.output.provenance import deciding_settings, is_official, json_sha256

# versions that change what the networks compute (the rest of the record's versions are listed only)
VERSION_KEYS = ('torch', 'torch.cuda', 'mmcv', 'mmcv-lite', 'mmengine', 'mmdet', 'mmpose', 'numpy', 'cv2', 'av',
                'onnxruntime', 'openvino')


def code_label(code: Optional[dict], where: bool = False) -> str:
    """The code's version in words; ``where``: with the checkout's path (not part of the group:
    the same commit in two folders computes the same)."""
    if not isinstance(code, dict):
        return 'not recorded (a record before code versions)'
    at = f" in {code.get('path', '?')}" if where else ''
    if code.get('commit'):
        state = ('dirty tree, diff ' + str(code.get('diff_sha256', ''))[:8]) if code.get('dirty') else \
            ('clean' if code.get('dirty') is False else 'tree state unknown')
        return f"commit {code['commit'][:10]} ({state}){at}"
    return f"package {code.get('version') or '?'} (no git checkout){at}"


def official_of(record: dict, kind: str) -> Optional[bool]:
    entry = (record.get('checkpoints') or {}).get(kind) or {}
    if 'official' in entry:
        return entry['official']
    key = 'DET' if kind == 'detector' else 'POSE'
    return is_official(entry.get('sha256'), (record.get('settings') or {}).get(f'{key}_MODEL_CHECKPOINT_LINK'))


def configs_key(record: dict) -> dict:
    found = {}
    for kind in ('detector', 'pose'):
        entry = (record.get('configs') or {}).get(kind) or {}
        found[kind] = [entry.get('sha256')] + [b.get('sha256') for b in entry.get('bases') or []]
    return found


def facets(record: dict) -> Dict[str, object]:
    """What decides a run's output, each as a short value to show and compare."""
    settings = record.get('settings') or {}
    decided = record.get('decided') or {}
    versions = record.get('versions') or {}
    deciding = deciding_settings(settings)
    found: Dict[str, object] = {
        'detector checkpoint': ((record.get('checkpoints') or {}).get('detector') or {}).get('sha256'),
        'pose checkpoint': ((record.get('checkpoints') or {}).get('pose') or {}).get('sha256'),
        'detector config': json_sha256(configs_key(record)['detector'])[:16],
        'pose config': json_sha256(configs_key(record)['pose'])[:16],
        'precision': decided.get('precision'), 'backend': decided.get('backend'),
        'device kind': str(decided.get('device', '')).split(':')[0] or None,
        'code': code_label(record.get('code')),
    }
    for key in VERSION_KEYS:
        if versions.get(key) is not None:
            found[key] = versions[key]
    for key, value in sorted(deciding.items()):
        if key != 'COCO_WHOLEBODY_IDX':
            found[key] = value
    found['COCO_WHOLEBODY_IDX'] = json_sha256(deciding.get('COCO_WHOLEBODY_IDX'))[:12] if deciding else None
    return found


@dataclass
class Group:
    key: str
    facets: Dict[str, object]
    runs: List[dict] = field(default_factory=list)
    segments: int = 0  # latest ledger records written by its runs
    written: int = 0
    overrides: Counter = field(default_factory=Counter)  # '--cfg-options' as given, over its runs

    @property
    def label(self) -> str:
        return f'group {self.key}'


@dataclass
class Provenance:
    groups: List[Group]
    unreadable: List[dict]  # records that cannot be read: {run, error}
    by_run: Dict[str, Group]
    differing: List[str]  # facets that differ between groups
    unofficial: List[str]  # 'pose checkpoint rtmw3d-l.pth (sha256 1234abcd..., the link names 794dbc78)'
    not_clean: List[str]  # code labels that are not a clean commit
    orphans: int = 0  # segments whose run has no readable record
    incomplete: List[str] = field(default_factory=list)  # runs that never completed (killed)


def group_runs(records: Sequence[dict], run_of_segment: Dict[str, Counter]) -> Provenance:
    """``records``: the run records (unreadable ones as {run, error}); ``run_of_segment``: per run
    id, a Counter of its segments' latest statuses (the ledger lines it wrote that still stand)."""
    groups: Dict[str, Group] = {}
    by_run: Dict[str, Group] = {}
    unreadable = [r for r in records if 'error' in r]
    unofficial, not_clean, incomplete = [], [], []
    for record in records:
        if 'error' in record:
            continue
        found = facets(record)
        key = json_sha256(found)[:8]
        group = groups.setdefault(key, Group(key, found))
        group.runs.append(record)
        by_run[str(record.get('run'))] = group
        for name, value in (record.get('cfg_options') or {}).items():
            group.overrides[f'{name}={value}'] += 1
        for kind in ('detector', 'pose'):
            entry = (record.get('checkpoints') or {}).get(kind) or {}
            if official_of(record, kind) is False:
                link = entry.get('link_sha256') or '?'
                text = (f"{kind} checkpoint {entry.get('file')}: SHA-256 {str(entry.get('sha256'))[:8]}..., "
                        f"the official file its link names starts {link}")
                if text not in unofficial:
                    unofficial.append(text)
        code = record.get('code')
        if not (isinstance(code, dict) and code.get('commit') and code.get('dirty') is False):
            label = code_label(code, where=True)
            if label not in not_clean:
                not_clean.append(label)
        if not record.get('complete'):
            incomplete.append(str(record.get('run')))
    orphans = 0
    for run, statuses in run_of_segment.items():
        group = by_run.get(run)
        if group is None:
            orphans += sum(statuses.values())
            continue
        group.segments += sum(statuses.values())
        group.written += statuses.get('written', 0)
    ordered = sorted(groups.values(), key=lambda g: (-g.segments, -len(g.runs), g.key))
    differing = []
    if len(ordered) > 1:
        names = list(dict.fromkeys(name for g in ordered for name in g.facets))
        differing = [n for n in names if len({repr(g.facets.get(n)) for g in ordered}) > 1]
    return Provenance(ordered, unreadable, by_run, differing, unofficial, not_clean, orphans, incomplete)


def segments_by_run(latest: Dict[str, dict]) -> Dict[str, Counter]:
    found: Dict[str, Counter] = defaultdict(Counter)
    for record in latest.values():
        found[str(record.get('run', ''))][str(record.get('status'))] += 1
    return found
