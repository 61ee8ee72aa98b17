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


def test_report_and_csv_from_a_run(first_run, data, tmp_path):
    npy, _ = first_run
    out = tmp_path / 'report.html'
    result = report(npy, data, '--out', str(out))
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert 'http://' not in page.replace('http://www.w3.org/2000/svg', '') and 'https://' not in page  # nothing fetched
    assert all(f'data-sentence="{name}"' in page for name in GOOD)
    with open(tmp_path / 'report_quality.csv', newline='') as f:
        table = {row['sentence']: row for row in csv.DictReader(f)}
    assert {name for name, row in table.items() if row['status'] == 'written'} == set(GOOD)


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
    assert '1 ledger lines are cut' in page and 'have no quality record' in page
    assert re.search(r'2 written segments have lost their file: [^<]*' + gone, page)


def test_report_without_a_ledger_is_one_line_and_exit_2(tmp_path, data):
    result = report(tmp_path, data)
    assert result.returncode == 2 and result.stderr.startswith('ERROR: no ledger in') and result.stderr.count('\n') == 1


@browser
def test_the_report_in_a_browser_shows_the_segments_and_plays_them(first_run, data, tmp_path):
    npy, _ = first_run
    out = tmp_path / 'report.html'
    assert report(npy, data, '--out', str(out)).returncode == 0

    def dom(budget_ms):
        profile = tmp_path / f'profile{budget_ms}'
        return subprocess.run([CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
                               '--disable-background-networking', '--disable-component-update', '--disable-sync',
                               f'--user-data-dir={profile}', f'--virtual-time-budget={budget_ms}', '--dump-dom',
                               out.as_uri()], capture_output=True, text=True, timeout=120).stdout

    early, late = dom(150), dom(2500)
    rendered = re.findall(r'<tr class="segment-row (?:best|worst)" data-sentence="([^"]+)"', late)
    assert set(rendered) == set(GOOD)  # the rows as the browser built the page
    ticks = lambda page: [int(t) for t in re.findall(r'data-ticks="(\d+)"', page)]  # noqa: E731
    assert ticks(late) and min(ticks(late)) > max(ticks(early))  # the animation advanced
    frames = set(re.findall(r'data-frame="(\d+)"', late))
    assert frames - {'0'}  # and drew other frames than the first
