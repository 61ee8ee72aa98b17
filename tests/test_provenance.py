"""The run record (signpose/output/provenance.py): hashes, their cache, one record per run."""
import dataclasses
import hashlib
import json
import subprocess

import pytest

from signpose.config import Options, load_settings
from signpose.nets.devices import resolve
from signpose.output import provenance
from signpose.output.provenance import HashCache, config_entry, read_run_records, start_run


def begin(settings, **kwargs):
    """start_run as the stage calls it: the effective settings as a dict, what a worker decides here."""
    return start_run(dataclasses.asdict(settings), resolve(Options.of(settings).compute, warn=False), **kwargs)


def sha256sum(path) -> str:
    return subprocess.run(['sha256sum', str(path)], capture_output=True, text=True, check=True).stdout.split()[0]


@pytest.fixture
def settings(tmp_path):
    (tmp_path / 'ckpt').mkdir()
    det, pose = tmp_path / 'ckpt' / 'det.pth', tmp_path / 'ckpt' / 'pose.pth'
    det.write_bytes(b'detector weights' * 1000)
    pose.write_bytes(bytes(range(256)) * 5000)
    return load_settings().replace(NPY_DIR=str(tmp_path / 'npy'), DET_MODEL_CHECKPOINT=str(det),
                                   POSE_MODEL_CHECKPOINT=str(pose))


def test_hashes_equal_sha256sum_and_hashlib(settings, tmp_path):
    run = begin(settings)
    for kind, key in (('detector', 'DET'), ('pose', 'POSE')):
        path = getattr(settings, f'{key}_MODEL_CHECKPOINT')
        entry = run.record['checkpoints'][kind]
        assert entry['sha256'] == sha256sum(path) == hashlib.sha256(open(path, 'rb').read()).hexdigest()
        assert entry['file'] == path.rsplit('/', 1)[-1]
    configs = run.record['configs']
    assert configs['pose']['sha256'] == sha256sum(settings.POSE_MODEL_CONFIG)
    assert configs['detector']['sha256'] == sha256sum(settings.DET_MODEL_CONFIG)


def test_config_bases_are_hashed_too(tmp_path):
    (tmp_path / 'base.py').write_text('x = 1\n')
    (tmp_path / 'child.py').write_text("_base_ = ['./base.py']\ny = 2\n")
    entry = config_entry(tmp_path / 'child.py')
    assert entry['sha256'] == sha256sum(tmp_path / 'child.py')
    assert [b['sha256'] for b in entry['bases']] == [sha256sum(tmp_path / 'base.py')]


def test_the_cache_hashes_a_file_once_until_it_changes(tmp_path):
    data = tmp_path / 'weights.pth'
    data.write_bytes(b'a' * 100_000)
    calls = []

    def counting(path):
        calls.append(path)
        return provenance.sha256_file(path)

    cache_file = tmp_path / 'cache.json'
    first = HashCache(cache_file, counting).sha256(data)
    again = HashCache(cache_file, counting).sha256(data)  # a new process: read from the file
    assert first == again == sha256sum(data) and len(calls) == 1
    data.write_bytes(b'b' * 100_001)  # size and mtime change
    assert HashCache(cache_file, counting).sha256(data) == sha256sum(data) and len(calls) == 2
    cache_file.write_text('{ cut')  # a damaged cache: hashed again, not an error
    assert HashCache(cache_file, counting).sha256(data) == sha256sum(data) and len(calls) == 3


def test_a_rerun_reuses_the_checkpoint_hashes(settings, monkeypatch):
    begin(settings)
    calls = []
    monkeypatch.setattr(provenance, 'sha256_file', lambda path, *a: calls.append(str(path)) or 'x')
    second = begin(settings)
    assert not [c for c in calls if c.endswith('.pth')]  # configs are small and read each time
    assert second.record['checkpoints']['pose']['sha256'] != 'x'


def test_two_runs_two_records_completed_at_the_end(settings, tmp_path):
    one = begin(settings, argv=['stage'])
    two = begin(settings.replace(NUM_SHARDS=2, SHARD_INDEX=1), argv=['stage'])
    assert one.run_id != two.run_id and one.path != two.path
    assert not json.loads(one.path.read_text())['complete']
    one.finish(dict(processed=3, frames=72), exit_status=0)
    written = json.loads(one.path.read_text())
    assert written['complete'] and written['counts'] == dict(processed=3, frames=72)
    assert written['exit_status'] == 0 and written['end'] and written['seconds'] >= 0
    records = list(read_run_records(settings.NPY_DIR))
    assert [r['run'] for r in records] == sorted([one.run_id, two.run_id])
    assert {r['shard']['index'] for r in records} == {0, 1}
    versions = records[0]['versions']
    for name in ('python', 'torch', 'numpy', 'mmdet', 'mmpose', 'cv2', 'signpose'):
        assert versions.get(name), name
    assert 'torch.cuda' in versions and records[0]['device']['name']
    assert not list((tmp_path / 'npy' / 'runs').glob('.*.tmp'))


def test_an_earlier_record_is_never_overwritten(settings):
    first = begin(settings, now=1_800_000_000.0)
    before = first.path.read_bytes()
    second = begin(settings, now=1_800_000_000.0)  # same millisecond, host and pid
    assert second.path != first.path and first.path.read_bytes() == before


def test_an_unreadable_record_is_reported_not_raised(settings):
    begin(settings)
    (provenance.runs_dir(settings.NPY_DIR) / 'zz-cut.json').write_text('{"run": "cut')
    records = list(read_run_records(settings.NPY_DIR))
    assert records[-1]['run'] == 'zz-cut' and 'error' in records[-1]


def test_official_checkpoints_by_the_link_prefix():
    link = 'https://download.openmmlab.com/x/rtmw3d-l_8xb64_cocktail14-384x288-794dbc78_20240626.pth'
    assert provenance.link_sha256_prefix(link) == '794dbc78'
    assert provenance.link_sha256_prefix('https://x/rtmdet_m_8xb32-300e_coco_20220719_112220-229f527c.pth') == '229f527c'
    assert provenance.is_official('794dbc78' + 'a' * 56, link) is True
    assert provenance.is_official('00000000' + 'a' * 56, link) is False
    assert provenance.is_official(None, link) is None and provenance.is_official('ab', 'https://x/model.pth') is None


def test_overrides_as_given_and_a_dict_of_settings(settings):
    import dataclasses

    from signpose.nets.devices import resolve
    argv = ['stage.py', '--cfg-options', 'BBOX_THR=0.5', 'MULTI_PERSON=signer', '--config', 'c.py']
    assert provenance.cfg_options_of(argv) == {'BBOX_THR': '0.5', 'MULTI_PERSON': 'signer'}
    changed = settings.replace(BBOX_THR=0.5)
    record = start_run(dataclasses.asdict(changed), resolve(Options.of(changed).compute, warn=False), argv=argv).record
    assert record['settings']['BBOX_THR'] == 0.5 and record['cfg_options']['BBOX_THR'] == '0.5'
    same = begin(settings).record
    assert record['settings_sha256'] != same['settings_sha256']
    assert record['deciding_sha256'] != same['deciding_sha256']  # BBOX_THR decides the output
    moved = begin(settings.replace(NUM_SHARDS=4, SHARD_INDEX=2)).record
    assert moved['deciding_sha256'] == same['deciding_sha256']  # a shard index does not


def test_the_code_version_of_a_checkout(tmp_path):
    repo = tmp_path / 'checkout'
    (repo / 'signpose').mkdir(parents=True)
    (repo / 'signpose' / 'a.py').write_text('x = 1\n')
    git = ['git', '-C', str(repo), '-c', 'user.name=t', '-c', 'user.email=t@t']
    subprocess.run(git + ['init', '-q'], check=True)
    subprocess.run(git + ['add', '.'], check=True)
    subprocess.run(git + ['commit', '-qm', 'one'], check=True)
    head = subprocess.run(git + ['rev-parse', 'HEAD'], capture_output=True, text=True, check=True).stdout.strip()
    clean = provenance.code_version(repo / 'signpose')
    assert clean['commit'] == head and clean['dirty'] is False
    (repo / 'signpose' / 'a.py').write_text('x = 2\n')
    dirty = provenance.code_version(repo / 'signpose')
    assert dirty['commit'] == head and dirty['dirty'] is True and len(dirty['diff_sha256']) == 64
    (tmp_path / 'plain' / 'signpose').mkdir(parents=True)
    plain = provenance.code_version(tmp_path / 'plain' / 'signpose')
    assert plain['commit'] is None and 'version' in plain


def test_runs_group_by_what_decides_the_output(settings):
    from collections import Counter

    from signpose.qa.provenance_groups import group_runs
    records = [begin(settings.replace(NUM_SHARDS=3, SHARD_INDEX=i)).record for i in range(3)]
    records[2] = dict(records[2], versions=dict(records[2]['versions'], mmpose='9.9.9'),
                      settings=dict(records[2]['settings'], BBOX_THR=0.6))
    records.append(dict(run='bad', error='ValueError: cut'))
    found = group_runs(records, {records[0]['run']: Counter(written=5), records[2]['run']: Counter(written=1)})
    assert len(found.groups) == 2 and [g.segments for g in found.groups] == [5, 1]
    assert {'mmpose', 'BBOX_THR'} <= set(found.differing) and 'SHARD_INDEX' not in found.differing
    assert found.unreadable == [records[-1]]
    # test weights under the official links: not the files the links name
    assert len(found.unofficial) == 2 and 'the official file its link names starts 794dbc78' in found.unofficial[1]
