"""The benchmark script runs end to end and finds the engine's output identical to the loop's."""
import re
import subprocess
import sys

from conftest import ROOT


def test_benchmark_runs_and_reports_identical_outputs():
    result = subprocess.run(
        # one round: a second one repeats the same measurement on the same code (the suite's time)
        [sys.executable, str(ROOT / 'scripts' / 'benchmark_3b.py'), '--seconds', '0.25', '--rounds', '1',
         '--width', '320', '--height', '240', '--without-speedups', '--device', 'cpu'],
        capture_output=True, text=True, timeout=900)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert 'weights: SEEDED' in out  # no official checkpoints here, and it says so
    for mode in ('per-frame loop', 'engine (fp32)', 'engine, no rewrites'):
        assert re.search(rf'^{re.escape(mode)} +6 frames .* frames/s', out, re.M), out
    assert len(re.findall(r'ratio in each round: x[\d.]+$', out, re.M)) == 2
    identical = 'largest difference to the per-frame loop: x 0.00e+00, y 0.00e+00, z 0.00e+00, visibility 0.00e+00'
    assert out.count(identical) == 2, out
    # the calibrated detector's candidates lie in a band: the engine's identical output above
    # was computed with the box branch on part of the rows only
    share = re.search(r'RTMDet box branch computed on (\d+)% of the feature rows', out)
    assert share and int(share.group(1)) < 100, out
    assert re.search(r"forward passes: [\d.]+ s, \d+% of the time", out)


def test_host_only_replays_the_networks_and_reports_frames_per_second():
    """--host-only: the networks' outputs recorded once, then replayed by two worker processes;
    the replayed engine's arrays equal the replayed per-frame loop's."""
    result = subprocess.run(
        [sys.executable, str(ROOT / 'scripts' / 'benchmark_3b.py'), '--host-only', '--seconds', '0.1',
         '--sizes', '320x240', '--workers', '2'], capture_output=True, text=True, timeout=900)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert re.search(r'recorded the networks\' outputs for \d+ frames and \d+ crops', out), out
    line = re.search(r'^host side: (\d+) frames/s \(320x240, \d+ cores, 2 worker\(s\); 144 frames in', out, re.M)
    assert line and int(line.group(1)) > 0, out
    assert "outputs: every worker's identical, and the per-frame loop's under the same replay " \
           "(first 24 frames) equal: True" in out, out
