"""The run report: one self-contained HTML page (nothing fetched) and a CSV of every manifest row,
from the ledgers and run records of NPY_DIR.

    python scripts/3b_report.py [NPY_DIR] [--out report.html] [--show 8]

The page puts first what a curator acts on: red banners (several ways of making the folder,
checkpoints that are not the official files, code that is not a clean commit, flagged segments,
failed, lost and never processed rows, a manifest gone or changed, records that cannot be read),
then every manifest row accounted for (qa/coverage.py), the red flags (qa/flags.py), the runs
grouped by what decides their output (qa/provenance_groups.py), the outcomes and quality charts
(qa/charts.py), and previews of the flagged, worst and best segments (qa/previews.py), with a
folder of processed copies beside them on request (qa/processed.py). The page
is rendered from qa/templates/ (Jinja2); it aggregates as it reads, so a YouTube-ASL ledger
(610,193 segments) gives a page under 1 MB; the CSV holds every row.

Its functions take plain values (folders, the manifest, settings as a dict from the run records).
"""
import csv
import json
import math
import os
import shlex
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from signpose.contract.outcomes import FAILED, MULTIPLE_PERSONS, SKIPPED, WRITTEN
from signpose.engine.quality import KEYS, quality_score
from signpose.output.provenance import manifest_entry, read_run_records
from signpose.qa import charts
from signpose.qa.coverage import (BAD_ROW, GONE, NEVER, OK, SHORT, STRAY, Coverage, account, action, needs_action,
                                  read_ledgers)
from signpose.qa.flags import CLIPPED_SHARE, LABELS, ORDER, SCAN_LIMIT, Flags, red_flags
from signpose.qa.previews import PLAYER_FRAMES, Previews, Sources, bones, point_parts
from signpose.qa.processed import Processed
from signpose.qa.provenance_groups import Provenance, code_label, group_runs, official_of, segments_by_run

TEMPLATES = Path(__file__).resolve().parent / 'templates'
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# measure: (label, upper end of its range, whether values above it are possible: an overflow bin)
HISTOGRAMS = {
    'person share': ('frames with a person / frames', 1.0, False), 'body': ('body confidence', 1.0, False),
    'face': ('face confidence', 1.0, False), 'lhand': ('left hand confidence', 1.0, False),
    'rhand': ('right hand confidence', 1.0, False),
    'lhand_in': ('left hand present (share of person frames)', 1.0, False),
    'rhand_in': ('right hand present (share of person frames)', 1.0, False),
    'jitter_l': ('left wrist jitter (per frame, in shoulder widths)', 0.5, True),
    'jitter_r': ('right wrist jitter (per frame, in shoulder widths)', 0.5, True),
    'clipped': ('keypoints on the frame\'s edge (share of those shown)', 1.0, False),
}
SKIPPED_HISTOGRAMS = ('person share', 'top', 'second')
SKIPPED_LABELS = {'top': ('highest person score', 1.0, False), 'second': ('highest second-person score', 1.0, False)}
FIRST_NAMES = 8  # names per coverage group on the page
FLAGGED_ROWS = 60  # flagged segments listed on the page (all in the CSV)
RUN_ROWS = 400  # runs listed (collapsed); the most recent ones
# the settings the report reads (from the run records, else from the caller's defaults)
USED = ('CSV_FILE', 'VIDEO_DIR', 'VIDEO_BACKEND', 'REDUCE_FPS_TO', 'FRAME_SKIP', 'KPT_THR', 'COCO_WHOLEBODY_IDX',
        'ADD_VISIBLE', 'BBOX_THR', 'OUTPUT_FORMATS')


class ReportError(RuntimeError):
    """No report can be made (one line for the console)."""


def person_share(quality: dict) -> Optional[float]:
    frames, person = quality.get('frames'), quality.get('person')
    return round(person / frames, 3) if frames and person is not None else None


def bbox_table(records: Sequence[dict], run_thr: Optional[float]) -> List[tuple]:
    """(threshold, segments skipped for several persons, kept, judged) at each threshold at or above
    the run's own: a segment is a multi-person skip at t when some frame's second-highest person
    score is above t."""
    seconds = [r['quality'].get('second') for r in records
               if isinstance(r.get('quality'), dict) and (r.get('status') == WRITTEN or
                                                          str(r.get('reason', '')).startswith(MULTIPLE_PERSONS))]
    judged = len(seconds)
    rows = []
    for t in sorted({*THRESHOLDS, *([run_thr] if isinstance(run_thr, (int, float)) else [])}):
        if isinstance(run_thr, (int, float)) and t < run_thr:
            continue
        multi = sum(1 for s in seconds if s is not None and s > t)
        rows.append((t, multi, judged - multi, judged))
    return rows


def command_line(argv: Sequence[str], manifest: Optional[str] = None) -> str:
    """The run's command line (its record's argv), reading ``manifest`` (CSV_FILE) when given."""
    argv = [str(a) for a in argv] or ['scripts/3b_extract_mmpose.py']
    if manifest:
        argv = [a for a in argv if not a.startswith('CSV_FILE=')]
        if '--cfg-options' not in argv:
            argv.append('--cfg-options')
        argv.insert(argv.index('--cfg-options') + 1, f'CSV_FILE={manifest}')
    prefix = 'python ' if argv[0].endswith('.py') else ''
    return prefix + ' '.join(shlex.quote(a) for a in argv)


@dataclass
class Context:
    """What the report read, for the page, the CSV and the console."""
    npy_dir: Path
    settings: Dict[str, object]
    runs: List[dict]
    rerun: str
    viewer: str
    manifest: Optional[str]
    ledgers: object = None
    coverage: Optional[Coverage] = None
    flags: Optional[Flags] = None
    prov: Optional[Provenance] = None
    notes: List[str] = field(default_factory=list)


def effective_settings(runs: Sequence[dict], defaults: Optional[dict]) -> Dict[str, object]:
    """The settings the report reads: the latest readable run record's (the run that wrote the
    most recent segments is no better a guess: shards share them), else ``defaults``."""
    found = dict(defaults or {})
    for record in reversed(runs):
        settings = record.get('settings') if 'error' not in record else None
        if isinstance(settings, dict):
            found.update({k: settings[k] for k in USED if k in settings})
            break
    return found


def manifest_state(manifest: Optional[str], runs: Sequence[dict]) -> List[str]:
    """Lines for the page when the manifest is gone or changed since the runs that used it."""
    if not manifest:
        return []
    now = manifest_entry(manifest)
    if now['sha256'] is None:
        return [f'the manifest {manifest} is gone or cannot be read: rows are accounted for from the ledgers only']
    recorded = [r.get('manifest') for r in runs if 'error' not in r and isinstance(r.get('manifest'), dict)
                and r['manifest'].get('path') == str(manifest) and r['manifest'].get('sha256')]
    if recorded and recorded[-1]['sha256'] != now['sha256']:
        return [f'the manifest {manifest} changed since the last run that read it ({recorded[-1]["size"]:,} bytes then, '
                f'{now["size"]:,} now): its rows are compared with the ledgers as they are now']
    return []


def gather(npy_dir: Path, manifest: Optional[str] = None, video_dir: Optional[str] = None,
           defaults: Optional[dict] = None) -> Context:
    """Read the ledgers, the run records and the manifest; flags and groups."""
    ledgers = read_ledgers(npy_dir)
    if not ledgers.files:
        raise ReportError(f'no ledger in {npy_dir}: the report reads the ledger the stage writes there '
                          f'(run scripts/3b_extract_mmpose.py with NPY_DIR={npy_dir} first)')
    runs = list(read_run_records(npy_dir))
    settings = effective_settings(runs, defaults)
    if manifest:
        settings['CSV_FILE'] = manifest
    if video_dir:
        settings['VIDEO_DIR'] = video_dir
    latest_argv = next((r.get('argv') for r in reversed(runs) if 'error' not in r and r.get('argv')), None)
    rerun = command_line(latest_argv or [], str(settings.get('CSV_FILE') or '') or None)
    viewer = (f"python scripts/3b_visualize.py NAME --cfg-options NPY_DIR={shlex.quote(str(npy_dir))} "
              f"CSV_FILE={shlex.quote(str(settings.get('CSV_FILE', '')))} VIDEO_DIR={shlex.quote(str(settings.get('VIDEO_DIR', '')))}")
    context = Context(npy_dir, settings, runs, rerun, viewer, str(settings['CSV_FILE']) if settings.get('CSV_FILE') else None)
    context.ledgers = ledgers
    # by name in one listing of the folder (a stat per segment costs seconds at YouTube-ASL scale)
    present = {entry.name for entry in os.scandir(npy_dir) if entry.is_file()}
    context.coverage = account(context.manifest, ledgers, present)
    context.notes = manifest_state(context.manifest, runs)
    written = [r for r in ledgers.latest.values() if r.get('status') == WRITTEN]
    context.flags = red_flags(written, npy_dir, present, float(settings.get('KPT_THR') or 0.3),
                              len(settings.get('COCO_WHOLEBODY_IDX') or ()) or 85, bool(settings.get('ADD_VISIBLE', True)))
    context.prov = group_runs(runs, segments_by_run(ledgers.latest))
    return context


def banners(c: Context) -> List[dict]:
    """The red banners, most urgent first: each says what, how many, and where on the page."""
    out = []
    prov, cover, flags, ledgers = c.prov, c.coverage, c.flags, c.ledgers
    if len(prov.groups) > 1:
        small = sorted(prov.groups, key=lambda g: g.segments)[0]
        out.append(dict(kind='groups', title=f'{len(prov.groups)} ways of making this folder:', href='provenance',
                        text=f"the runs differ in {', '.join(prov.differing[:8])}{' ...' if len(prov.differing) > 8 else ''}; "
                             f"the smallest group ({small.key}) wrote {small.segments:,} segment(s) in {len(small.runs)} run(s).",
                        names=[]))
    if prov.unofficial:
        out.append(dict(kind='checkpoint', title='Checkpoint not the official file its link names:', href='provenance',
                        text='the output was not made by the published weights.', names=prov.unofficial))
    if prov.not_clean:
        out.append(dict(kind='code', title='Code not a clean commit:', href='provenance',
                        text='the runs cannot be reproduced from a commit.', names=prov.not_clean[:5]))
    if flags.of:
        counts = ', '.join(f'{LABELS[k]} {flags.count(k):,}' for k in ORDER if flags.count(k))
        out.append(dict(kind='flags', title=f'{len(flags.of):,} segments flagged:', href='flags', text=counts + '.',
                        names=sorted(flags.of)[:8]))
    failed = {g: len(m) for g, m in cover.groups.items() if g.startswith(FAILED)}
    if failed:
        out.append(dict(kind='failed', title=f'{sum(failed.values()):,} segments failed:', href='coverage',
                        text=', '.join(f'{g.split(": ", 1)[1]} {n:,}' for g, n in failed.items()) + '. A rerun tries them again.',
                        names=[m.sentence for g in failed for m in cover.groups[g][:4]]))
    crashed = {g: len(m) for g, m in cover.groups.items() if g.startswith(SKIPPED) and 'crashed' in g}
    if crashed:
        out.append(dict(kind='crashed', title=f'{sum(crashed.values()):,} segments skipped: their video crashed the stage twice',
                        href='coverage', text='(RETRY_CRASHED=True tries them again).', names=[]))
    for group, title, text in ((BAD_ROW, 'bad manifest rows:', 'not processed; fix them in the manifest.'),
                               (NEVER, 'manifest rows never processed:', 'no ledger has an outcome for them.'),
                               (GONE, 'written segments have lost their file:', 'a rerun writes them again.'),
                               (STRAY, 'segments of the ledger are not in the manifest:', 'another manifest, or it changed.')):
        if cover.count(group):
            first = cover.groups[group][:6]
            items = [f'line {m.line}: {m.detail}' if group == BAD_ROW else m.sentence for m in first]
            out.append(dict(kind=''.join(ch if ch.isalnum() else '-' for ch in group).replace('--', '-'), title=f'{cover.count(group):,} {title}', href='coverage',
                            text=text, names=items))
    if cover.manifest_state:
        out.append(dict(kind='manifest', title='Manifest not read:', href='coverage', text=cover.manifest_state, names=[]))
    for line in c.notes:
        out.append(dict(kind='manifest', title='Manifest:', href='coverage', text=line, names=[]))
    if prov.unreadable:
        out.append(dict(kind='records', title=f'{len(prov.unreadable)} run record(s) cannot be read:', href='provenance',
                        text='their runs\' provenance is unknown.',
                        names=[f"runs/{r['run']}.json ({r['error']})" for r in prov.unreadable[:6]]))
    if ledgers.cut or ledgers.unreadable:
        out.append(dict(kind='ledger', title=f'{ledgers.cut:,} ledger lines cannot be read'
                                             f'{f" and {len(ledgers.unreadable)} ledger file(s)" if ledgers.unreadable else ""}:',
                        href='', text='cut by a crash while writing, or damaged; left out.',
                        names=ledgers.unreadable + ledgers.cut_at[:10]))
    if prov.orphans:
        out.append(dict(kind='orphans', title=f'{prov.orphans:,} segments\' ledger lines name no readable run record:',
                        href='provenance', text='what made them is unknown (an older stage, or a record lost).', names=[]))
    return out


def coverage_table(c: Context) -> List[dict]:
    rows = []
    for group, members in c.coverage.groups.items():
        first = [f'line {m.line}: {m.detail}' if group == BAD_ROW else m.sentence for m in members[:FIRST_NAMES]]
        viewer = c.viewer.replace('NAME', shlex.quote(members[0].sentence)) if members and members[0].sentence else c.viewer
        rows.append(dict(group=group, count=len(members), first=first, act=needs_action(group),
                         command=action(group, c.rerun, viewer), anchor='group-' + ''.join(ch if ch.isalnum() else '-' for ch in group)))
    return rows


def provenance_view(c: Context) -> dict:
    prov = c.prov
    groups = []
    for g in prov.groups:
        first = min((str(r.get('start', '')) for r in g.runs), default='')
        last = max((str(r.get('end') or 'not completed') for r in g.runs), default='')
        checkpoints = []
        for kind in ('detector', 'pose'):
            entry = (g.runs[-1].get('checkpoints') or {}).get(kind) or {}
            checkpoints.append(dict(file=entry.get('file'), sha=str(entry.get('sha256'))[:16] + '...',
                                    official=official_of(g.runs[-1], kind), link=entry.get('link_sha256') or '',
                                    differs=f'{kind} checkpoint' in prov.differing))
        hosts = Counter(str(r.get('host')) for r in g.runs)
        groups.append(dict(key=g.key, segments=g.segments, written=g.written, runs=len(g.runs), first=first, last=last,
                           hosts=', '.join(h for h, _ in hosts.most_common(3)) + (f' (+{len(hosts) - 3})' if len(hosts) > 3 else ''),
                           checkpoints=checkpoints, code=code_label(g.runs[-1].get('code'), where=True),
                           code_differs='code' in prov.differing,
                           overrides=', '.join(f'{o}' + (f' ({n} runs)' if n != len(g.runs) else '')
                                               for o, n in g.overrides.most_common(12)) or 'none'))

    def shown(value):
        text = json.dumps(value) if not isinstance(value, str) else value
        return text if len(text) <= 90 else text[:87] + '...'
    differing = [dict(name=n, cells=[shown(g.facets.get(n)) for g in prov.groups]) for n in prov.differing]
    names = [n for n in (prov.groups[0].facets if prov.groups else {}) if n[:1].isupper()]
    names = list(dict.fromkeys(names + [n for g in prov.groups for n in g.facets if n[:1].isupper()]))
    settings = [dict(name=n, cells=[shown(g.facets.get(n)) for g in prov.groups], differs=n in prov.differing) for n in names]
    versions = ', '.join(f'{k} {v}' for k, v in ((prov.groups[0].runs[-1].get('versions') or {}).items() if prov.groups else []))
    group_of = {run: g.key for run, g in prov.by_run.items()}
    standing = segments_by_run(c.ledgers.latest)
    runs = []
    readable = [r for r in c.runs if 'error' not in r]
    for r in readable[-RUN_ROWS:][::-1]:
        device = r.get('device') or {}
        shard = r.get('shard') or {}
        runs.append(dict(run=r.get('run'), group=group_of.get(str(r.get('run')), '?'), start=r.get('start', ''),
                         end=r.get('end') or 'not completed', host=r.get('host', ''),
                         device=f"{device.get('name', '')} ({device.get('device', '')}, {device.get('precision', '')}, {device.get('backend', '')})",
                         shard=f"{(shard.get('index') or 0) + 1} of {shard.get('count') or 1}",
                         fps=r.get('frames_per_second', ''), segments=f"{sum(standing.get(str(r.get('run')), Counter()).values()):,}"))
    note = 'overrides included: the values as the runs had them' + (', differences highlighted' if prov.differing else '')
    return dict(groups=groups, differing=differing, settings=settings, versions=versions, runs=runs,
                runs_total=len(readable), runs_cut=len(readable) > RUN_ROWS, settings_note=note)


def histograms(records: Sequence[dict], measures: Sequence[str], colour: str) -> List[dict]:
    values: Dict[str, List[float]] = {key: [] for key in measures}
    plain = [key for key in measures if key != 'person share']
    share = 'person share' in values
    isfinite = math.isfinite
    for r in records:  # one pass over the segments for every measure (610,193 at YouTube-ASL size)
        q = r['quality']
        for key in plain:
            v = q.get(key)
            if isinstance(v, (int, float)) and isfinite(v):
                values[key].append(v)
        if share:
            v = person_share(q)
            if isinstance(v, (int, float)) and isfinite(v):
                values['person share'].append(v)
    out = []
    for key in measures:
        label, top, overflow = HISTOGRAMS.get(key) or SKIPPED_LABELS[key]
        if values[key]:
            out.append(dict(title=label, n=len(values[key]), svg=charts.histogram(
                values[key], top, overflow=overflow, xlabel=label, colour=colour)))
    return out


def rank(c: Context, show: int) -> Dict[str, List[dict]]:
    """Flagged (worst flag first), worst and best of the rest: no segment twice."""
    latest, flags = c.ledgers.latest, c.flags
    gone = {m.sentence for m in c.coverage.groups.get(GONE, [])}
    flagged = sorted(flags.of, key=lambda n: (min(ORDER.index(k) for k, _ in flags.of[n]), n))
    ranked = sorted((r for r in latest.values() if r.get('status') == WRITTEN and r['sentence'] not in gone
                     and r['sentence'] not in flags.of and isinstance(r.get('quality'), dict)
                     and quality_score(r['quality']) is not None),
                    key=lambda r: (-quality_score(r['quality']), r['sentence']))
    best_n = min(show, (len(ranked) + 1) // 2)
    best = ranked[:best_n]
    rest = ranked[best_n:]
    worst = rest[::-1][:show]
    return dict(flagged=[latest[n] for n in flagged if n not in gone][:show], worst=worst, best=best)


def card_view(record: dict, previews: Previews, flags: Flags, viewer: str, processed: Optional[Processed] = None) -> dict:
    card = previews.card(record)
    copy = processed.player(record['sentence'], card['start'], PLAYER_FRAMES, previews.encode) \
        if processed is not None and card['points'] else dict(points='', filled='')
    card.update(processed=copy['points'], filled=copy['filled'])
    q = record.get('quality') if isinstance(record.get('quality'), dict) else {}
    card.update(score=quality_score(q) if q else None, person=f"{q.get('person')}/{q.get('frames')}",
                hands=f"{q.get('lhand_in')} / {q.get('rhand_in')}", jitter=f"{q.get('jitter_l')} / {q.get('jitter_r')}",
                flags=[(LABELS[k], d) for k, d in flags.of.get(record['sentence'], [])],
                canvas_h=round(240 / (card['aspect'] or 16 / 9)) + 16,
                viewer=viewer.replace('NAME', shlex.quote(record['sentence'])))
    return card


HAND_FIELDS = ('replaced', 'before', 'after')  # the hand pass's ledger fields per hand (engine/hand_fusion.py)
HAND_COLUMNS = [f'{side}_hand_{field}' for side in ('left', 'right') for field in HAND_FIELDS]


def hand_values(record: Optional[dict]) -> list:
    """A ledger record's hand pass fields, in HAND_COLUMNS order ('' without a hand pass)."""
    hands = (record or {}).get('hands')
    if not isinstance(hands, dict):
        return [''] * len(HAND_COLUMNS)
    return [(hands.get(side) or {}).get(field, '') for side in ('left', 'right') for field in HAND_FIELDS]


def hand_pass(records: List[dict]) -> Optional[dict]:
    """The hand pass over the written segments it refined: per hand the means of the share replaced
    and of the score before and after, and the frames kept with the whole-body values; None without one."""
    refined = [r for r in records if r.get('status') == WRITTEN and isinstance(r.get('hands'), dict)]
    if not refined:
        return None
    rows = []
    for side in ('left', 'right'):
        parts = [r['hands'].get(side) or {} for r in refined]
        means = {}
        for field in HAND_FIELDS:
            got = [float(p[field]) for p in parts if isinstance(p.get(field), (int, float))]
            means[field] = f'{sum(got) / len(got):.3f}' if got else '-'
        kept = Counter()
        for p in parts:
            kept.update(p.get('kept') or {})
        rows.append(dict(side=side, **means, kept=', '.join(f'{k} {n:,}' for k, n in sorted(kept.items())) or '-'))
    return dict(segments=len(refined), rows=rows)


def write_csv(path: Path, c: Context) -> None:
    """One row per manifest row (its group), and per ledger segment the manifest does not name."""
    latest, flags = c.ledgers.latest, c.flags.of
    hands = any(isinstance(r.get('hands'), dict) for r in latest.values())
    keys = [k for k in KEYS if k != 'frames']
    columns = ['group', 'line', 'sentence', 'video', 'status', 'reason', 'flags', 'run', 'score'] + \
              keys + ['frames'] + (HAND_COLUMNS if hands else [])
    with open(path, 'w', newline='', encoding='utf-8') as f:
        out = csv.writer(f)
        out.writerow(columns)
        for m in c.coverage.members():
            r = latest.get(m.sentence) if m.sentence else None
            q = (r or {}).get('quality') if isinstance((r or {}).get('quality'), dict) else {}
            r = r or {}
            values = [q.get(k) for k in keys]
            out.writerow([m.group, m.line or '', m.sentence, m.video, r.get('status', ''),
                          r.get('reason', m.detail if m.group == BAD_ROW else ''),
                          ';'.join(k for k, _ in flags.get(m.sentence, ())), r.get('run', ''),
                          quality_score(q) if q else ''] +
                         [json.dumps(v) if isinstance(v, list) else ('' if v is None else v) for v in values] +
                         [r.get('frames', '')] + (hand_values(r) if hands else []))


def render(**context) -> str:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(['html', 'j2']),
                      undefined=StrictUndefined, trim_blocks=False)
    css = (TEMPLATES / 'report.css').read_text(encoding='utf-8')
    js = (TEMPLATES / 'report.js').read_text(encoding='utf-8')
    return env.get_template('report.html.j2').render(css=css, js=js, **context)


def build_report(npy_dir, out=None, show: int = 8, manifest: Optional[str] = None, video_dir: Optional[str] = None,
                 defaults: Optional[dict] = None, processed=None) -> dict:
    """Write the page and the CSV; returns a summary (for the console and the tests).

    ``manifest`` / ``video_dir``: where the rows and the videos are (default: the run records'
    CSV_FILE and VIDEO_DIR); ``defaults``: settings (a dict) for what no run record says;
    ``processed``: a folder of processed copies (``3b_smooth.py NPY_DIR OUT_DIR``) shown beside the raw files.
    """
    npy_dir = Path(npy_dir)
    out = Path(out) if out else npy_dir / 'report.html'
    out.parent.mkdir(parents=True, exist_ok=True)  # --out in a folder not made yet
    c = gather(npy_dir, manifest, video_dir, defaults)
    s = c.settings
    records = list(c.ledgers.latest.values())
    written = [r for r in records if r.get('status') == WRITTEN]
    with_quality = [r for r in records if isinstance(r.get('quality'), dict)]
    notes = []
    unmeasured = sum(1 for r in written if not isinstance(r.get('quality'), dict))
    if unmeasured:
        notes.append(f'{unmeasured:,} written segments have no quality record (written by a version of the stage before '
                     f'quality was recorded): they are not ranked.')
    if c.flags.unscanned:
        notes.append(f'{c.flags.unscanned:,} written segments were not checked for frozen, identical or clipped poses: '
                     f'their ledger lines predate those measures and more than {SCAN_LIMIT:,} files are too many to read here.')
    if c.prov.incomplete:
        notes.append(f'{len(c.prov.incomplete)} run(s) never completed (killed, or still running): '
                     + ', '.join(c.prov.incomplete[:5]) + (' ...' if len(c.prov.incomplete) > 5 else ''))
    picks = rank(c, show)
    with_files = [m.sentence for g in (OK, SHORT) for m in c.coverage.groups.get(g, ())]  # written, file there
    processed = Processed(processed, npy_dir, with_files) if processed else None
    processed_view = processed.summary() if processed is not None else None
    previews = Previews(Sources(npy_dir, c.manifest, str(s.get('VIDEO_DIR') or '') or None, str(s.get('VIDEO_BACKEND') or 'auto'),
                                s.get('REDUCE_FPS_TO'), int(s.get('FRAME_SKIP') or 1), float(s.get('KPT_THR') or 0.3),
                                tuple(s.get('COCO_WHOLEBODY_IDX') or ())), out.parent,
                        c.coverage.segments if not c.coverage.manifest_state else None)
    sections = [dict(id='flagged-segments', kind='flagged', title=f'Flagged (the first {len(picks["flagged"])} of {len(c.flags.of):,})',
                     cards=[card_view(r, previews, c.flags, c.viewer, processed) for r in picks['flagged']]),
                dict(id='worst', kind='worst', title='Worst (lowest score, not flagged)',
                     cards=[card_view(r, previews, c.flags, c.viewer, processed) for r in picks['worst']]),
                dict(id='best', kind='best', title='Best (highest score, not flagged)',
                     cards=[card_view(r, previews, c.flags, c.viewer, processed) for r in picks['best']])]
    flagged_rows = [dict(name=n, video=str(c.ledgers.latest[n].get('video', '')),
                         flags=[(LABELS[k], d) for k, d in c.flags.of[n]],
                         command=c.viewer.replace('NAME', shlex.quote(n)))
                    for n in sorted(c.flags.of, key=lambda n: (min(ORDER.index(k) for k, _ in c.flags.of[n]), n))[:FLAGGED_ROWS]]
    scan_note = (f'{c.flags.scanned:,} files were read to check them.' if c.flags.scanned else
                 'The measures are those the stage recorded in the ledger.')
    cover_rows = coverage_table(c)
    outcome_items = [(g['group'], g['count'], charts.RED if g['act'] else None) for g in cover_rows]
    csv_path = out.with_name(out.stem + '_segments.csv')
    frames = sum(int(r.get('frames') or 0) for r in written)
    written_q = [r for r in with_quality if r.get('status') == WRITTEN]
    skipped_q = [r for r in with_quality if r.get('status') == SKIPPED]
    idx = tuple(s.get('COCO_WHOLEBODY_IDX') or ())
    outcomes = Counter(str(r.get('status')) + ('' if r.get('status') == WRITTEN else f": {str(r.get('reason', '')).split(':')[0]}")
                       for r in records).most_common()
    page = render(
        npy_dir=str(npy_dir), generated=time.strftime('%Y-%m-%d %H:%M:%S %Z'),
        totals=dict(segments=len(records), ledgers=len(c.ledgers.files), lines=c.ledgers.lines, written=len(written),
                    frames=frames),
        banners=banners(c), notes=notes,
        coverage=dict(manifest=c.coverage.manifest, rows=c.coverage.rows, table=cover_rows),
        coverage_chart=charts.hbars(outcome_items, anchor=[g['anchor'] for g in cover_rows]),
        csv_name=csv_path.name,
        flagged=dict(total=len(c.flags.of), rows=flagged_rows, clipped_share=f'{CLIPPED_SHARE:.0%}', scan_note=scan_note),
        prov=provenance_view(c),
        outcome_chart=charts.hbars([(k, n, charts.RED if k.startswith(FAILED) else None) for k, n in outcomes]),
        hist_written=histograms(written_q, list(HISTOGRAMS), charts.BAR),
        hist_skipped=histograms(skipped_q, SKIPPED_HISTOGRAMS, charts.GREY),
        bbox=bbox_table(records, s.get('BBOX_THR')), bbox_thr=s.get('BBOX_THR'),
        sections=sections, player_frames=PLAYER_FRAMES, hand_pass=hand_pass(records),
        processed=processed_view,
        skeleton=json.dumps(dict(points=len(idx), bones=bones(idx), parts=point_parts(idx)), separators=(',', ':')),
    )
    out.write_text(page, encoding='utf-8')
    write_csv(csv_path, c)
    return dict(segments=len(records), written=len(written), missing=c.coverage.count(GONE), cut=c.ledgers.cut,
                without_quality=len(records) - len(with_quality), flagged=len(c.flags.of), groups=len(c.prov.groups),
                html=out, csv=csv_path, banners=[b['kind'] for b in banners(c)],
                processed=processed_view,
                coverage={g: len(m) for g, m in c.coverage.groups.items()}, truncated=c.coverage.count(SHORT))

