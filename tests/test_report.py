"""Provenance, quality and the run report: the run record's hashes, the quality recomputed from
the .npy files, and the report opened in a real browser (headless Chromium)."""
import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import GOOD, ROOT
from planted import DUPLICATE, FAILED, FROZEN, NEVER, TRUNCATED, plant

from signpose.output.provenance import HashCache, read_run_records

REPORT = str(ROOT / 'scripts' / '3b_report.py')
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
browser = pytest.mark.skipif(CHROMIUM is None and not os.environ.get('SIGNPOSE_REQUIRE_BROWSER'),
                             reason='headless Chromium is not installed (.ci/run installs it)')


def report(npy, data, *extra):
    return subprocess.run([sys.executable, REPORT, str(npy), *extra, '--cfg-options', f'VIDEO_DIR={data / "videos"}',
                           f'CSV_FILE={data / "manifest.tsv"}'], cwd=ROOT, capture_output=True, text=True, timeout=300)


def sha256(path):
    return hashlib.sha256(open(path, 'rb').read()).hexdigest()


def test_the_run_record_names_what_made_the_files(first_run, data):
    npy, _ = first_run
    [record] = [r for r in read_run_records(npy)]
    assert record['complete'] and record['exit_status'] == 0 and record['counts']['processed'] == len(GOOD)
    assert record['checkpoints']['detector']['sha256'] == sha256(data / 'det.pth')
    assert record['checkpoints']['pose']['sha256'] == sha256(data / 'pose.pth')
    assert record['configs']['detector']['sha256'] == sha256(data / 'det1.py')
    assert record['decided']['device'] == 'cpu' and record['versions']['torch'] and record['versions']['mmpose']
    # the effective settings (overrides included), their hash, the overrides as given, the code
    assert record['settings']['BBOX_THR'] == 0.0 and record['cfg_options']['BBOX_THR'] == '0.0'
    assert record['overridden']['BBOX_THR'] == 0.0
    assert record['settings_sha256'] == hashlib.sha256(json.dumps(record['settings'], sort_keys=True,
                                                                  separators=(',', ':')).encode()).hexdigest()
    assert record['code']['commit'] and record['code']['dirty'] in (True, False)
    # seeded weights under the official links: not the official files
    assert record['checkpoints']['pose']['official'] is False and record['checkpoints']['pose']['link_sha256'] == '794dbc78'
    lines = [json.loads(line) for line in (npy / 'ledger.jsonl').read_text().splitlines() if line.strip()]
    assert lines and {line['run'] for line in lines} == {record['run']}  # every line names its run


def test_checkpoint_hashes_are_cached_by_size_and_mtime(tmp_path):
    calls = []
    checkpoint = tmp_path / 'model.pth'
    checkpoint.write_bytes(b'weights' * 1000)

    def counting(path):
        calls.append(path)
        return sha256(path)

    assert HashCache(tmp_path / 'cache.json', counting).sha256(checkpoint) == sha256(checkpoint)
    assert HashCache(tmp_path / 'cache.json', counting).sha256(checkpoint) == sha256(checkpoint)
    assert len(calls) == 1  # the rerun read the cache, not the file
    checkpoint.write_bytes(b'other weights' * 1000)
    assert HashCache(tmp_path / 'cache.json', counting).sha256(checkpoint) == sha256(checkpoint)
    assert len(calls) == 2


def test_quality_in_the_ledger_agrees_with_the_files(first_run):
    """Recomputed here from each written .npy, independently of engine/quality.py."""
    npy, _ = first_run
    records = {r['sentence']: r for r in map(json.loads, (npy / 'ledger.jsonl').read_text().splitlines())
               if 'sentence' in r and r['status'] == 'written'}
    assert set(records) == set(GOOD)
    for name, record in records.items():
        rows = np.load(npy / f'{name}.npy')
        q = record['quality']
        person = np.any(rows != 0, axis=(1, 2))
        assert q['frames'] == len(rows) and q['person'] == int(person.sum())
        left = rows[:, 43:64, 3].mean(axis=1) >= 0.3  # KPT_THR; the left hand's 21 of the 85
        assert q['lhand_in'] == pytest.approx(left[person].mean(), abs=1e-3)
        assert q['rhand'] == pytest.approx(rows[person][:, 64:85, 3].mean(), abs=1e-3)



def chromium_dom(page, profile, budget_ms=3000):
    """The page as headless Chromium built it (scripts run), after ``budget_ms`` of virtual time."""
    return subprocess.run([CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
                           '--disable-background-networking', '--disable-component-update', '--disable-sync',
                           f'--user-data-dir={profile}', f'--virtual-time-budget={budget_ms}', '--dump-dom',
                           page.as_uri()], capture_output=True, text=True, timeout=180).stdout


@pytest.fixture(scope='module')
def planted(first_run, data, tmp_path_factory):
    """The run with planted faults (tests/planted.py), its overlay video made, and its report."""
    work = tmp_path_factory.mktemp('planted')
    found = plant(data, first_run[0], work)
    viz = subprocess.run([sys.executable, str(ROOT / 'scripts' / '3b_visualize.py'), 'v30_c', '--cfg-options',
                          f'NPY_DIR={found["npy"]}', f'CSV_FILE={found["manifest"]}', f'VIDEO_DIR={data / "videos"}'],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert viz.returncode == 0, viz.stderr
    result = subprocess.run([sys.executable, REPORT, str(found['npy']), '--cfg-options', f'VIDEO_DIR={data / "videos"}',
                             f'CSV_FILE={found["manifest"]}'], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    found.update(page=found['npy'] / 'report.html', csv=found['npy'] / 'report_segments.csv', stdout=result.stdout)
    return found


def test_the_csv_accounts_for_every_manifest_row(planted):
    with open(planted['csv'], newline='') as f:
        table = list(csv.DictReader(f))
    lines = [line for line in planted['manifest'].read_text().splitlines()[1:] if line.strip()]
    listed = [row for row in table if row['group'] != 'not in the manifest']
    assert len(listed) == len(lines)  # every row, bad ones included, once
    groups = {row['sentence']: row['group'] for row in table if row['sentence']}
    bad = [row for row in table if row['group'] == 'bad manifest row']
    assert {int(row['line']) for row in bad} >= {11, 12, 13} and any(DUPLICATE in row['reason'] for row in bad)
    assert all(groups[name] == 'never processed' for name in NEVER)
    assert groups['v25_oom'] == 'failed: RuntimeError' and groups['v25_died'] == 'failed: worker died'
    assert groups[TRUNCATED] == 'written, truncated'
    assert groups['slow'] == 'skipped: fps out of range'
    flags = {row['sentence']: row['flags'] for row in table}
    assert 'frozen' in flags[FROZEN] and 'truncated' in flags[TRUNCATED]


def test_the_report_without_a_browser(planted):
    page = planted['page'].read_text()
    assert 'http://' not in page.replace('http://www.w3.org/2000/svg', '') and 'https://' not in page.replace(
        'https://download.openmmlab.com', '')  # nothing fetched (a link's name is text)
    assert planted['page'].stat().st_size < 1_000_000
    for kind in ('groups', 'checkpoint', 'flags', 'failed', 'bad-manifest-row', 'never-processed', 'records', 'ledger'):
        assert f'red banner: {kind}' in planted['stdout']


@browser
def test_each_planted_fault_is_where_a_curator_looks_first(planted, tmp_path):
    dom = chromium_dom(planted['page'], tmp_path / 'profile')
    alerts = dom[dom.index('id="alerts"'):dom.index('id="coverage"')]
    kinds = re.findall(r'data-alert="([^"]+)"', alerts)
    assert {'groups', 'checkpoint', 'flags', 'failed', 'bad-manifest-row', 'never-processed', 'records',
            'ledger'} <= set(kinds)
    text = re.sub(r'<[^>]+>', ' ', alerts)
    assert 'BBOX_THR' in text and 'pose checkpoint' in text  # what differs between the runs, first thing
    assert 'not the official file' in text and 'rtmw3d-l.pth' in text
    assert 'frozen pose' in text and 'truncated' in text and 'worker died' in text and 'RuntimeError' in text
    assert 'broken-record.json' in text and 'ledger.jsonl:' in text
    assert 'line 11' in text and DUPLICATE in text
    flagged = dom[dom.index('id="flagged"'):]
    frozen_row = re.search(rf'data-sentence="{FROZEN}">(.*?)</tr>', flagged, re.S).group(1)
    assert 'frozen pose' in frozen_row
    late_row = re.search(rf'data-sentence="{TRUNCATED}">(.*?)</tr>', flagged, re.S).group(1)
    assert 'truncated' in late_row and 'video ended early' in late_row
    differences = dom[dom.index('id="differences"'):dom.index('</table>', dom.index('id="differences"'))]
    assert 'BBOX_THR' in differences and 'pose checkpoint' in differences and '0.05' in differences
    cards = re.findall(r'class="card segment-row (flagged|worst|best)[^"]*" data-sentence="([^"]+)"', dom)
    names = [name for _, name in cards]
    assert len(names) == len(set(names))  # no segment listed twice
    assert ('flagged', FROZEN) in cards


@browser
def test_the_players_play_and_the_overlay_plays_in_chromium(planted, tmp_path):
    import av
    with av.open(str(planted['npy'] / 'viz' / 'v30_c.mp4')) as video:
        stream = video.streams.video[0]
        assert stream.codec_context.name == 'h264' and stream.width % 2 == 0 and stream.height % 2 == 0
    early, late = chromium_dom(planted['page'], tmp_path / 'p1', 150), chromium_dom(planted['page'], tmp_path / 'p2', 3000)
    ticks = lambda page: [int(t) for t in re.findall(r'data-ticks="(\d+)"', page)]  # noqa: E731
    assert ticks(late) and min(ticks(late)) > max(ticks(early))  # the players advanced
    assert set(re.findall(r'<canvas class="player"[^>]*data-frame="(\d+)"', late)) - {'0'}
    video = re.search(r'<video class="overlay"[^>]*src="viz/v30_c.mp4"[^>]*>', late).group(0)
    assert 'data-error' not in video
    assert int(re.search(r'data-ready="(\d)"', video).group(1)) >= 2  # Chromium decoded its frames
    assert int(re.search(r'data-width="(\d+)"', video).group(1)) == 160


def test_report_says_what_is_missing(first_run, data, tmp_path):
    npy, _ = first_run
    copy = tmp_path / 'npy'
    shutil.copytree(npy, copy)
    gone = sorted(GOOD)[0]
    (copy / f'{gone}.npy').unlink()
    with open(copy / 'ledger.jsonl', 'a') as f:  # an older version's line (no quality), and a cut one
        f.write(json.dumps(dict(sentence='old', video='v30', status='written', reason='', frames=3,
                                path=str(copy / 'old.npy'))) + '\n{"sentence": "cut", "vid')
    result = report(copy, data)
    assert result.returncode == 0, result.stderr
    page = (copy / 'report.html').read_text()
    assert '1 ledger lines cannot be read' in page and 'ledger.jsonl:' in page and 'have no quality record' in page
    assert re.search(r'1 written segments have lost their file:.*?' + gone, page, re.S)
    assert 'segments of the ledger are not in the manifest' in page  # 'old'


def test_a_manifest_that_is_gone_is_said_and_the_rest_reported(first_run, data, tmp_path):
    npy, _ = first_run
    copy = tmp_path / 'npy'
    shutil.copytree(npy, copy)
    result = subprocess.run([sys.executable, REPORT, str(copy), '--cfg-options', f'CSV_FILE={tmp_path / "gone.tsv"}'],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    page = (copy / 'report.html').read_text()
    assert 'manifest not found' in page and all(f'data-sentence="{name}"' in page or name in page for name in GOOD)


def test_report_without_a_ledger_is_one_line_and_exit_2(tmp_path, data):
    result = report(tmp_path, data)
    assert result.returncode == 2 and result.stderr.startswith('ERROR: no ledger in') and result.stderr.count('\n') == 1
    smoothed = tmp_path / 'smoothed'  # processed copies (scripts/3b_smooth.py): .npy files and smoothing.json
    smoothed.mkdir()
    np.save(smoothed / 'a.npy', np.zeros((3, 85, 4), np.float32))
    (smoothed / 'smoothing.json').write_text('{}')
    result = report(smoothed, data)
    assert result.returncode == 2 and result.stderr.count('\n') == 1


@browser
def test_processed_copies_are_shown_beside_the_raw_files(planted, data, tmp_path):
    """3b_smooth.py's folder on the page: its method, counts and quality before and after as its
    record has them, and its skeleton drawn by the players over the raw one."""
    smoothed = tmp_path / 'smoothed'
    smooth = subprocess.run([sys.executable, str(ROOT / 'scripts' / '3b_smooth.py'), str(planted['npy']), str(smoothed)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert smoothed.joinpath('smoothing.json').is_file(), smooth.stderr
    record = json.loads(smoothed.joinpath('smoothing.json').read_text())
    page = tmp_path / 'page' / 'report.html'  # --out in a folder not made yet

    def make(processed):
        return subprocess.run([sys.executable, REPORT, str(planted['npy']), '--out', str(page), '--processed', str(processed),
                               '--cfg-options', f'VIDEO_DIR={data / "videos"}', f'CSV_FILE={planted["manifest"]}'],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)

    result = make(smoothed)
    assert result.returncode == 0, result.stderr
    dom = chromium_dom(page, tmp_path / 'profile')
    section = re.sub(r'\s+', ' ', re.sub(r'<[^>]+>', ' ', dom[dom.index('id="processed"'):dom.index('id="bbox"')]))
    summary = record['summary']
    assert f"Method {record['settings']['method']}" in section
    assert f"{summary['files']:,} files, {summary['processed']:,} processed" in section
    assert f"{summary['points_filled']:,} points filled in {summary['gaps_filled']:,} gaps" in section
    for bad in summary['bad_files']:
        assert bad in section  # the files it could not process, named
    measured = [e for e in record['files'] if e['status'] != 'bad' and isinstance(e['quality_before'], dict)]
    mean = lambda key: np.mean([e[key]['jitter_l'] for e in measured if e[key]['jitter_l'] is not None])  # noqa: E731
    assert f"left wrist jitter {mean('quality_before'):.4f} {mean('quality_after'):.4f}" in section
    drawn = [int(n) for n in re.findall(r'data-processed-bones="(\d+)"', dom)]
    copies = {e['file'][:-4] for e in measured if e['file'].endswith('.npy')}
    cards = set(re.findall(r'class="card segment-row [^"]*" data-sentence="([^"]+)"', dom))
    assert cards & copies and len(drawn) == len(cards & copies) and max(drawn) > 0  # every card with a copy draws it
    gone = make(tmp_path / 'nothing')
    assert gone.returncode == 0 and 'smoothing.json is missing' in gone.stdout and '3b_smooth.py' in gone.stdout
