"""Scale-out: Slurm-style shards and a local Ray cluster give exactly the files of a local run."""
import json
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest
from conftest import GOOD, ROOT, SCRIPT, npy_files, options, run_stage

from signpose.config import Options, load_settings
from signpose.output.ledger import read_ledgers


def assert_same_files(folder, reference):
    expected, got = npy_files(reference), npy_files(folder)
    assert set(got) == set(expected)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name])


def outcome_lines(folder):
    lines = [json.loads(line) for f in sorted(folder.glob('ledger*.jsonl')) for line in f.read_text().splitlines()]
    return Counter((r['sentence'], r['status']) for r in lines)


def test_three_shards_give_the_files_and_outcomes_of_a_local_run(data, first_run):
    npy = data / 'npy_shards'
    for index in range(3):
        result = run_stage(options(data, npy, NUM_SHARDS=3, SHARD_INDEX=index))
        assert result.returncode == 0, result.stderr
        assert f'shard        {index + 1} of 3' in result.stdout
    assert_same_files(npy, first_run[0])
    assert sorted(p.name for p in npy.glob('ledger*.jsonl')) == [
        f'ledger.shard-{i:04d}-of-0003.jsonl' for i in range(3)]
    local = {k: (o.status, o.reason) for k, o in read_ledgers(first_run[0]).items()}
    sharded = {k: (o.status, o.reason) for k, o in read_ledgers(npy).items()}
    assert sharded == local


def test_slurm_array_variables_choose_the_shard(data):
    from signpose.config import load_settings
    env = dict(SLURM_ARRAY_TASK_COUNT='4', SLURM_ARRAY_TASK_ID='3', SLURM_ARRAY_TASK_MIN='1')
    code = 'from signpose.config import load_settings; s = load_settings(); print(s.NUM_SHARDS, s.SHARD_INDEX)'
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env={**__import__('os').environ, **env},
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ['4', '2']
    assert load_settings().NUM_SHARDS >= 1


def test_gpu_actors_reserve_their_share_of_the_cores():
    """Each GPU actor reserves the node's cores / (GPUs x actors per GPU) and runs that many threads."""
    from signpose.run.ray_executor import actor_plan
    nodes = [dict(Alive=True, Resources=dict(CPU=64.0, GPU=8.0)), dict(Alive=True, Resources=dict(CPU=96.0, GPU=8.0)),
             dict(Alive=True, Resources=dict(CPU=16.0)), dict(Alive=False, Resources=dict(CPU=8.0, GPU=8.0))]
    resources = dict(CPU=176.0, GPU=16.0)
    settings = load_settings().replace(DEVICE='cuda:0', MAX_WORKERS=2, CPU_THREADS=None)
    count, options, actor = actor_plan(resources, nodes, Options.of(settings))
    assert count == 32 and options == dict(num_gpus=0.5, num_cpus=4)  # the 64-core node decides
    assert actor.compute.cpu_threads == 4 and actor.compute.device == 'cuda:0' and settings.CPU_THREADS is None
    count, options, actor = actor_plan(resources, nodes, Options.of(settings.replace(DEVICE=('cuda:0', 'cuda:1'),
                                                                                     MAX_WORKERS=1, CPU_THREADS=3)))
    assert count == 16 and options == dict(num_gpus=1.0, num_cpus=3) and actor.compute.cpu_threads == 3
    # without GPUs (or DEVICE on the CPU) actors take CPU_THREADS cores each
    count, options, actor = actor_plan(dict(CPU=8.0), nodes[2:3], Options.of(settings.replace(DEVICE='cpu', MAX_WORKERS=1,
                                                                                              CPU_THREADS=2)))
    assert count == 4 and options == dict(num_cpus=2) and actor.compute.cpu_threads == 2


@pytest.fixture(scope='module')
def ray_cluster():
    ray = pytest.importorskip('ray')
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_run_gives_the_files_and_outcomes_of_a_local_run(data, first_run, ray_cluster):
    npy = data / 'npy_ray'
    result = run_stage(options(data, npy, EXECUTOR='ray', RAY_ADDRESS='auto'))
    assert result.returncode == 0, result.stdout + result.stderr
    assert_same_files(npy, first_run[0])
    local = {k: (o.status, o.reason) for k, o in read_ledgers(first_run[0]).items()}
    assert {k: (o.status, o.reason) for k, o in read_ledgers(npy).items()} == local


def _actor_pids():
    out = subprocess.run(['ps', '-eo', 'pid,args'], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if 'ray::StageActor' in line]


def test_killing_an_actor_mid_run_still_does_every_segment_once(data, first_run, ray_cluster):
    npy = data / 'npy_ray_killed'
    process = subprocess.Popen([sys.executable, SCRIPT, *options(data, npy, EXECUTOR='ray', RAY_ADDRESS='auto')],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 600
    while not list(npy.glob('*.npy')) and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    pids = _actor_pids()
    assert pids, 'an actor should be running'
    subprocess.run(['kill', '-9', str(pids[0])], check=True)
    out, _ = process.communicate(timeout=900)
    assert process.returncode == 0, out
    assert_same_files(npy, first_run[0])
    lines = outcome_lines(npy)
    assert all(lines[(name, 'written')] == 1 for name in GOOD)  # each segment reported once
    assert not any(status == 'failed' for _, status in lines)


def test_a_full_disk_stops_a_ray_run_with_what_the_actors_wrote_recorded(data, first_run, ray_cluster, tmp_path):
    from test_faults import CONTINUES, error_lines, leave_free, small_filesystem, temporary_files
    mount = tmp_path / 'disk'
    with small_filesystem(mount):
        npy = mount / 'npy'
        npy.mkdir()
        filler = leave_free(mount, 40 * 1024)  # the ledger and one or two segments
        args = options(data, npy, EXECUTOR='ray', RAY_ADDRESS='auto')
        result = run_stage(args)
        assert result.returncode == 3, result.stdout + result.stderr
        [error] = error_lines(result.stderr)
        assert error.startswith(f'ERROR: out of space in {npy} (') and error.endswith(CONTINUES)
        written = set(npy_files(npy))
        assert 0 < len(written) < len(GOOD) and not temporary_files(npy)
        assert {k for k, o in read_ledgers(npy).items() if o.status == 'written'} == written
        filler.unlink()
        assert run_stage(args).returncode == 0
        assert_same_files(npy, first_run[0])
