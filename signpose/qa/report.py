"""The run report: one self-contained HTML page (no server, nothing fetched) and a CSV of every
segment's quality, from the ledgers and run records of NPY_DIR.

    python scripts/3b_report.py [NPY_DIR] [--out report.html] [--show 8]

The page: the runs' provenance, outcomes and skip reasons, frames/s, the distributions of the
quality measures (engine/quality.py), what other BBOX_THR values would keep, and the best and
worst segments, each with a thumbnail of a frame and its skeleton and its 85 points played in the
page, linked to its overlay video where one exists (qa/visualize). It aggregates as it reads, so a
YouTube-ASL ledger (610,193 segments) gives a page of a few hundred kB; the CSV holds every row.
"""
import base64
import csv
import html
import json
import math
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import cv2
import numpy as np

from signpose.config import Settings, argument_parser, settings_from_args
from signpose.contract.files import FORMATS
from signpose.contract.outcomes import WRITTEN
from signpose.data.locate import SegmentVideos
from signpose.data.manifest import ManifestError
from signpose.data.sampling import sample_frames
from signpose.data.video import read_frames
from signpose.engine.quality import KEYS, quality_score
from signpose.output.files import load_array
from signpose.output.provenance import read_run_records
from signpose.qa.visualize import Drawer

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
HISTOGRAMS = {  # measure: (label, upper end of its range)
    'person share': ('frames with a person / frames', 1.0), 'body': ('body confidence', 1.0),
    'face': ('face confidence', 1.0), 'lhand': ('left hand confidence', 1.0), 'rhand': ('right hand confidence', 1.0),
    'lhand_in': ('left hand present (share of person frames)', 1.0),
    'rhand_in': ('right hand present (share of person frames)', 1.0),
    'jitter_l': ('left wrist jitter (per frame, in shoulder widths)', 0.5),
    'jitter_r': ('right wrist jitter (per frame, in shoulder widths)', 0.5),
}
BINS = 20
THUMB_WIDTH = 160
ANIMATION_FRAMES = 24  # frames of a segment played in the page (evenly spaced)


class ReportError(RuntimeError):
    """No report can be made (one line for the console)."""


@dataclass
class Gathered:
    """What the ledgers say, aggregated as they are read."""
    latest: Dict[str, dict] = field(default_factory=dict)  # sentence -> its latest record
    lines: int = 0
    cut: int = 0  # lines that are not JSON (cut by a crash)
    files: List[str] = field(default_factory=list)


def gather(npy_dir: Path) -> Gathered:
    """The latest record of every sentence from all ledgers of ``npy_dir`` (all shards)."""
    files = sorted(npy_dir.glob('ledger*.jsonl'))
    if not files:
        raise ReportError(f'no ledger in {npy_dir}: the report reads the ledger the stage writes there '
                          f'(run scripts/3b_extract_mmpose.py with NPY_DIR={npy_dir} first)')
    found = Gathered(files=[f.name for f in files])
    stamps: Dict[str, float] = {}
    for file in files:
        with open(file, encoding='utf-8', errors='replace') as f:
            for line in f:
                if not line.strip():
                    continue
                found.lines += 1
                try:
                    record = json.loads(line)
                except ValueError:
                    found.cut += 1
                    continue
                if not isinstance(record, dict) or 'sentence' not in record:
                    continue  # a video's start / end
                name, stamp = record['sentence'], record.get('time', 0.0)
                if stamp >= stamps.get(name, -1.0):
                    stamps[name] = stamp
                    found.latest[name] = record
    return found


def kind_of(record: dict) -> str:
    """'written', or 'skipped: <reason>' / 'failed: <reason>' without its details."""
    if record.get('status') == WRITTEN:
        return WRITTEN
    return f"{record.get('status', '?')}: {str(record.get('reason', '')).split(':')[0]}"


def person_share(quality: dict) -> Optional[float]:
    frames, person = quality.get('frames'), quality.get('person')
    return round(person / frames, 3) if frames and person is not None else None


def histogram(values: List[float], top: float) -> List[int]:
    counts = [0] * BINS
    for v in values:
        counts[min(BINS - 1, max(0, int(v / top * BINS)))] += 1
    return counts


def bbox_table(records: List[dict], run_thr: Optional[float]) -> List[tuple]:
    """(threshold, segments skipped for several persons, of the segments that got that far) at each
    threshold at or above the run's own: a segment is a multi-person skip at t when some frame's
    second-highest person score is above t."""
    seconds = [r['quality'].get('second') for r in records
               if r.get('quality') and (r.get('status') == WRITTEN or kind_of(r).endswith('multiple persons detected'))]
    judged = len(seconds)
    rows = []
    for t in sorted({*THRESHOLDS, *([run_thr] if run_thr is not None else [])}):
        if run_thr is not None and t < run_thr:
            continue
        multi = sum(1 for s in seconds if s is not None and s > t)
        rows.append((t, multi, judged - multi, judged))
    return rows


def thumbnail(rows: np.ndarray, settings: Settings, videos: SegmentVideos, sentence: str, drawer: Drawer) -> str:
    """A data: URL of one frame of the segment (the middle one with a person) with its skeleton; on
    a grey canvas when its video is not at hand."""
    person = np.flatnonzero(np.any(rows != 0, axis=(1, 2)))
    at = int(person[len(person) // 2]) if len(person) else 0
    image = None
    try:
        segment = videos.segment(sentence)
    except ManifestError:
        segment = None
    if segment is not None:
        video = videos.video(segment.video_name)
        if video.info is not None:
            times = video.timeline.times if video.timeline is not None else None
            indices = sample_frames(video.info.fps, segment.start, segment.end, settings.REDUCE_FPS_TO,
                                    settings.FRAME_SKIP, times)
            if at < len(indices):
                for _, frame in read_frames(video.info, [indices[at]], video.timeline):
                    image = frame
    if image is None:
        image = np.full((120, THUMB_WIDTH, 3), 60, np.uint8)
    height = max(1, round(image.shape[0] * THUMB_WIDTH / image.shape[1]))
    image = cv2.resize(image, (THUMB_WIDTH, height), interpolation=cv2.INTER_AREA)
    drawer.draw(image, rows[at])
    ok, png = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return 'data:image/jpeg;base64,' + base64.b64encode(png.tobytes()).decode() if ok else ''


def animation(rows: np.ndarray) -> list:
    """The segment's x, y per keypoint in thousandths of the frame, evenly spaced frames (compact
    for the page)."""
    picks = np.unique(np.linspace(0, len(rows) - 1, min(len(rows), ANIMATION_FRAMES)).round().astype(int))
    return [np.round(np.clip(rows[i, :, :2], 0, 1) * 1000).astype(int).tolist() for i in picks]


def segment_card(record: dict, settings: Settings, npy_dir: Path, videos: SegmentVideos, drawer: Drawer,
                 out_dir: Path) -> dict:
    name = record['sentence']
    card = dict(name=name, video=record.get('video', ''), score=quality_score(record['quality']),
                quality=record['quality'], thumb='', frames=[], overlay='')
    path = npy_dir / f'{name}.npy'
    try:
        rows = np.nan_to_num(load_array(path).astype(np.float32))
        card['thumb'] = thumbnail(rows, settings, videos, name, drawer)
        card['frames'] = animation(rows)
    except (ValueError, OSError) as err:
        card['error'] = str(err)[:200]
    overlay = npy_dir / 'viz' / f'{name}.mp4'
    if overlay.is_file():
        try:
            card['overlay'] = str(overlay.relative_to(out_dir))
        except ValueError:
            card['overlay'] = overlay.as_uri()
    return card


def svg_bars(counts: List[int], labels: List[str], width: int = 360, height: int = 110) -> str:
    """Inline SVG bar chart (no script, no library)."""
    top = max(counts) or 1
    bar = width / max(1, len(counts))
    parts = [f'<svg width="{width}" height="{height + 16}" role="img">']
    for i, (count, label) in enumerate(zip(counts, labels)):
        h = count / top * height
        parts.append(f'<rect x="{i * bar + 1:.1f}" y="{height - h:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" '
                     f'fill="#3b7dd8"><title>{html.escape(label)}: {count}</title></rect>')
    parts.append(f'<text x="0" y="{height + 13}" font-size="10">{html.escape(labels[0].split("-")[0])}</text>')
    parts.append(f'<text x="{width}" y="{height + 13}" font-size="10" text-anchor="end">'
                 f'{html.escape(labels[-1].split("-")[-1])}</text></svg>')
    return ''.join(parts)


def hbars(items: List[tuple], width: int = 420) -> str:
    """Inline SVG horizontal bars: (label, count) pairs."""
    top = max((c for _, c in items), default=1) or 1
    rows = [f'<svg width="{width + 260}" height="{20 * len(items) + 4}" role="img">']
    for i, (label, count) in enumerate(items):
        w = count / top * width
        rows.append(f'<text x="0" y="{20 * i + 14}" font-size="12">{html.escape(label)}</text>'
                    f'<rect x="250" y="{20 * i + 3}" width="{w:.1f}" height="14" fill="#3b7dd8"></rect>'
                    f'<text x="{256 + w:.1f}" y="{20 * i + 14}" font-size="12">{count:,}</text>')
    rows.append('</svg>')
    return ''.join(rows)


HAND_FIELDS = ('replaced', 'before', 'after')  # the hand pass's ledger fields per hand (engine/hand_fusion.py)
HAND_COLUMNS = [f'{side}_hand_{field}' for side in ('left', 'right') for field in HAND_FIELDS]


def hand_values(record: dict) -> list:
    """A ledger record's hand pass fields, in HAND_COLUMNS order ('' without a hand pass)."""
    hands = record.get('hands') if isinstance(record.get('hands'), dict) else {}
    return [(hands.get(side) or {}).get(field, '') if hands else '' for side in ('left', 'right')
            for field in HAND_FIELDS]


def hands_section(records: List[dict]) -> str:
    """The hand pass (HAND_MODEL_CONFIG): per hand, over the written segments it refined, the mean
    share of hand points replaced and the mean score before and after; '' when no segment has one."""
    refined = [r for r in records if r.get('status') == WRITTEN and isinstance(r.get('hands'), dict)]
    if not refined:
        return ''
    rows = []
    for side in ('left', 'right'):
        parts = [r['hands'].get(side) or {} for r in refined]
        means = []
        for field in HAND_FIELDS:
            got = [float(p[field]) for p in parts if isinstance(p.get(field), (int, float))]
            means.append(f'{sum(got) / len(got):.3f}' if got else '-')
        kept = Counter()
        for p in parts:
            kept.update(p.get('kept') or {})
        rows.append(f'<tr><td>{side}</td>' + ''.join(f'<td>{m}</td>' for m in means)
                    + f'<td>{html.escape(", ".join(f"{k} {n:,}" for k, n in sorted(kept.items())) or "-")}</td></tr>')
    return (f'<h2>Hand pass</h2><p>{len(refined):,} written segments refined by the hand model: per hand, the mean '
            f'over segments of the share of hand points the hand model replaced and of the mean hand score (clipped to '
            f'[0, 1]) before and after; frames whose hand kept the whole-body values, and why (docs/hands.md).</p>'
            f'<table><tr><th>hand</th><th>replaced</th><th>score before</th><th>score after</th>'
            f'<th>frames kept</th></tr>{"".join(rows)}</table>')


def write_csv(path: Path, latest: Dict[str, dict]) -> None:
    columns = ['sentence', 'video', 'status', 'reason', 'frames', 'run', 'score'] + [k for k in KEYS if k != 'frames']
    hands = any(isinstance(r.get('hands'), dict) for r in latest.values())
    columns += HAND_COLUMNS if hands else []  # a run without the hand pass: the columns as they were
    with open(path, 'w', newline='', encoding='utf-8') as f:
        out = csv.writer(f)
        out.writerow(columns)
        for name, r in latest.items():
            q = r.get('quality') or {}
            out.writerow([name, r.get('video', ''), r.get('status', ''), r.get('reason', ''), r.get('frames', 0),
                          r.get('run', ''), quality_score(q) if q else ''] +
                         [json.dumps(q[k]) if isinstance(q.get(k), list) else ('' if q.get(k) is None else q[k])
                          for k in KEYS if k != 'frames'] + (hand_values(r) if hands else []))


def build_report(settings: Settings, npy_dir: Path, out: Path, show: int = 8) -> dict:
    """Write the page and the CSV; returns a summary (for the console and the tests)."""
    found = gather(npy_dir)
    runs = list(read_run_records(npy_dir))
    records = list(found.latest.values())
    kinds = Counter(kind_of(r) for r in records)
    with_quality = [r for r in records if isinstance(r.get('quality'), dict)]
    written = [r for r in records if r.get('status') == WRITTEN]
    # by name in one listing of the folder reported on (the ledger's paths may be those of a folder
    # since moved; a stat per segment costs seconds at YouTube-ASL scale)
    present = {entry.name for entry in os.scandir(npy_dir) if entry.is_file()}
    missing = [r['sentence'] for r in written
               if not any(f"{r['sentence']}.{fmt}" in present for fmt in FORMATS)]
    gone = set(missing)
    values: Dict[str, List[float]] = {key: [] for key in HISTOGRAMS}
    for r in with_quality:
        q = r['quality']
        for key in HISTOGRAMS:
            v = person_share(q) if key == 'person share' else q.get(key)
            if isinstance(v, (int, float)) and math.isfinite(v):
                values[key].append(float(v))
    ranked = sorted((r for r in with_quality if r.get('status') == WRITTEN and quality_score(r['quality']) is not None
                     and r['sentence'] not in gone), key=lambda r: quality_score(r['quality']))
    worst, best = ranked[:show], ranked[::-1][:show]
    out_dir = out.parent
    videos, drawer = SegmentVideos(settings), Drawer(settings)
    cards = {'best': [segment_card(r, settings, npy_dir, videos, drawer, out_dir) for r in best],
             'worst': [segment_card(r, settings, npy_dir, videos, drawer, out_dir) for r in worst]}
    run_thr = next((r.get('settings', {}).get('BBOX_THR') for r in reversed(runs) if 'settings' in r), None)
    frames = sum(int(r.get('frames') or 0) for r in written)
    page = render(npy_dir, found, runs, kinds, values, bbox_table(records, run_thr), cards, missing, frames,
                  len(records) - len(with_quality), hands_section(records))
    out.write_text(page, encoding='utf-8')
    csv_path = out.with_name(out.stem + '_quality.csv')
    write_csv(csv_path, found.latest)
    return dict(segments=len(records), written=len(written), missing=len(missing), cut=found.cut,
                without_quality=len(records) - len(with_quality), html=out, csv=csv_path)


def render(npy_dir, found, runs, kinds, values, table, cards, missing, frames, without_quality, hands='') -> str:
    e = html.escape
    notes = []
    if found.cut:
        notes.append(f'{found.cut:,} ledger lines are cut (a crash while writing) and were left out.')
    if without_quality:
        notes.append(f'{without_quality:,} segments have no quality record: skipped before any frame, or '
                     f'written by a version of the stage before quality was recorded.')
    if missing:
        notes.append(f'{len(missing):,} written segments have lost their file: '
                     + ', '.join(e(m) for m in missing[:50]) + (' ...' if len(missing) > 50 else ''))
    runs_rows = ''.join(
        f'<tr><td>{e(str(r.get("run")))}</td><td>{e(str(r.get("start", "")))}</td><td>{e(str(r.get("end") or "not completed"))}</td>'
        f'<td>{e(str(r.get("host", "")))}</td><td>{e(str((r.get("device") or {}).get("name", "")))} '
        f'({e(str((r.get("device") or {}).get("device", "")))}, {e(str((r.get("device") or {}).get("precision", "")))}, '
        f'{e(str((r.get("device") or {}).get("backend", "")))})</td>'
        f'<td>{e(str(r.get("frames_per_second", "")))}</td><td>{e(str((r.get("counts") or {}).get("processed", "")))}</td></tr>'
        for r in runs if 'error' not in r)
    last = next((r for r in reversed(runs) if 'error' not in r), None)
    provenance = ''
    if last is not None:
        ckpts = ''.join(f'<tr><td>{e(k)}</td><td>{e(str(v.get("file")))}</td><td><code>{e(str(v.get("sha256")))}</code></td></tr>'
                        for k, v in (last.get('checkpoints') or {}).items())
        cfgs = ''.join(f'<tr><td>{e(k)}</td><td>{e(str((v or {}).get("path")))}</td><td><code>{e(str((v or {}).get("sha256")))}</code></td></tr>'
                       for k, v in (last.get('configs') or {}).items())
        vers = ', '.join(f'{e(k)} {e(str(v))}' for k, v in (last.get('versions') or {}).items())
        provenance = (f'<h3>Latest run: {e(str(last.get("run")))}</h3><table>{ckpts}{cfgs}</table>'
                      f'<p class="small">{vers}</p>')
    hist = ''.join(
        f'<div class="chart"><b>{e(label)}</b> ({len(values[key]):,} segments)<br>'
        + (svg_bars(histogram(values[key], top), [f'{top * i / BINS:.2f}-{top * (i + 1) / BINS:.2f}' for i in range(BINS)])
           if values[key] else '<i>no values</i>') + '</div>'
        for key, (label, top) in HISTOGRAMS.items())
    table_rows = ''.join(f'<tr><td>{t:.2f}</td><td>{m:,}</td><td>{k:,}</td><td>{n:,}</td></tr>' for t, m, k, n in table)
    segment_rows = ''
    for group, items in cards.items():
        for card in items:
            q = card['quality']
            link = f' <a href="{e(card["overlay"])}">overlay video</a>' if card['overlay'] else ''
            segment_rows += (
                f'<tr class="segment-row {group}" data-sentence="{e(card["name"])}"><td>{e(group)}</td>'
                f'<td>{e(card["name"])}<br><span class="small">{e(card["video"])}</span>{link}</td>'
                f'<td>{card["score"]}</td><td>{q.get("person")}/{q.get("frames")}</td>'
                f'<td>{q.get("lhand_in")} / {q.get("rhand_in")}</td><td>{q.get("jitter_l")} / {q.get("jitter_r")}</td>'
                f'<td>{"<img src=" + chr(34) + card["thumb"] + chr(34) + ">" if card["thumb"] else e(card.get("error", ""))}</td>'
                f'<td><canvas class="anim" width="120" height="120" data-frame="0" '
                f'data-points="{e(json.dumps(card["frames"], separators=(",", ":")))}"></canvas></td></tr>')
    outcome_items = sorted(kinds.items(), key=lambda kv: -kv[1])
    return f'''<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Stage 3b report: {e(str(npy_dir))}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }} table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 3px 6px; font-size: 13px; vertical-align: top; }}
.chart {{ display: inline-block; margin: 0 1.5em 1em 0; font-size: 12px; }} .small {{ font-size: 11px; color: #666; }}
.note {{ background: #fff4d6; padding: 4px 8px; margin: 4px 0; }} canvas.anim {{ background: #111; }}
</style></head><body>
<h1>Stage 3b report</h1>
<p>{e(str(npy_dir))}: {len(found.latest):,} segments in {len(found.files)} ledger file(s), {frames:,} frames written.
Measures are heuristics from the model's own confidences, not ground truth (docs/qa.md).</p>
{''.join(f'<p class="note">{n}</p>' for n in notes)}
<h2>Runs</h2><table><tr><th>run</th><th>start</th><th>end</th><th>host</th><th>device</th><th>frames/s</th><th>segments</th></tr>{runs_rows}</table>
{provenance}
<h2>Outcomes</h2>{hbars(outcome_items)}
<h2>Quality</h2>{hist}
{hands}
<h2>BBOX_THR</h2><p>Segments skipped for several persons at each threshold, from the highest second-person
score recorded per segment. Scores below the run's own BBOX_THR were never reported by the detector: lower
thresholds cannot be judged from this run.</p>
<table><tr><th>BBOX_THR</th><th>skipped (several persons)</th><th>kept</th><th>judged</th></tr>{table_rows}</table>
<h2>Best and worst segments</h2><p>Score: share of frames with a person x mean share of frames with each hand present.</p>
<table id="segments"><tr><th></th><th>segment</th><th>score</th><th>person frames</th><th>hands present (l / r)</th>
<th>wrist jitter (l / r)</th><th>a frame</th><th>85 points</th></tr>{segment_rows}</table>
<script>
(function () {{
  var canvases = Array.prototype.slice.call(document.querySelectorAll('canvas.anim'));
  var data = canvases.map(function (c) {{ return JSON.parse(c.getAttribute('data-points') || '[]'); }});
  var tick = 0;
  function draw() {{
    canvases.forEach(function (c, i) {{
      var frames = data[i];
      if (!frames.length) return;
      var f = tick % frames.length, ctx = c.getContext('2d');
      ctx.fillStyle = '#111'; ctx.fillRect(0, 0, c.width, c.height);
      frames[f].forEach(function (p, k) {{
        if (p[0] === 0 && p[1] === 0) return;
        ctx.fillStyle = k < 6 ? '#ffc800' : (k < 43 ? '#eeeeee' : (k < 64 ? '#3cdc3c' : '#286eff'));
        ctx.fillRect(p[0] / 1000 * c.width - 1, p[1] / 1000 * c.height - 1, 2, 2);
      }});
      c.setAttribute('data-frame', String(f));
      c.setAttribute('data-ticks', String(tick));
    }});
    tick += 1;
  }}
  draw();
  setInterval(draw, 100);
}})();
</script>
</body></html>
'''


def main(argv=None) -> int:
    parser = argument_parser('The run report: one HTML page and a CSV of every segment\'s quality.')
    parser.add_argument('npy_dir', nargs='?', help='the output folder (default: NPY_DIR)')
    parser.add_argument('--out', help='the HTML file (default: NPY_DIR/report.html)')
    parser.add_argument('--show', type=int, default=8, help='best and worst segments shown (default 8)')
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    npy_dir = Path(args.npy_dir or settings.NPY_DIR)
    if not npy_dir.is_dir():
        print(f'ERROR: {npy_dir} is not a folder: name the output folder of a run (NPY_DIR)', file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else npy_dir / 'report.html'
    try:
        summary = build_report(settings.replace(NPY_DIR=str(npy_dir)), npy_dir, out, args.show)
    except ReportError as err:
        print(f'ERROR: {err}', file=sys.stderr)
        return 2
    print(f'{summary["segments"]:,} segments ({summary["written"]:,} written, {summary["missing"]} files gone, '
          f'{summary["cut"]} cut lines, {summary["without_quality"]:,} without quality) -> {summary["html"]} '
          f'({summary["html"].stat().st_size / 1024:.0f} kB), {summary["csv"]}')
    return 0
