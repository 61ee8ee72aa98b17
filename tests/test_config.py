"""The settings: typed once from the config module and --cfg-options, every problem listed at once."""
import dataclasses
import subprocess
import sys

import pytest
from conftest import ROOT, SCRIPT

from signpose.config import DEFAULT_CONFIG, Options, Settings, SettingsError, load_settings, value_problems
from signpose.nets.devices import BATCH_SIZES, resolve


def test_the_config_module_gives_typed_frozen_settings():
    s = load_settings()
    assert isinstance(s, Settings) and s.OUTPUT_FORMATS == ('npy',)
    assert isinstance(s.COCO_WHOLEBODY_IDX, tuple) and len(s.COCO_WHOLEBODY_IDX) == 85
    assert s.ACCEPT_VIDEO_FPS_WITHIN == (24.0, 60.0) and isinstance(s.REDUCE_FPS_TO, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.BBOX_THR = 0.5
    assert value_problems(s) == []


def test_overrides_are_converted_to_the_field_types():
    s = load_settings(DEFAULT_CONFIG, dict(BBOX_THR=1, ACCEPT_VIDEO_FPS_WITHIN=[25, 30], DEVICE=['cuda:0', 'cuda:1'],
                                           OUTPUT_FORMATS='pose', NPY_DIR=2024, HOST_THREADS=1, CPU_THREADS=None))
    assert s.BBOX_THR == 1.0 and isinstance(s.BBOX_THR, float)
    assert s.ACCEPT_VIDEO_FPS_WITHIN == (25.0, 30.0) and s.DEVICE == ('cuda:0', 'cuda:1')
    assert s.OUTPUT_FORMATS == ('pose',) and s.NPY_DIR == '2024' and s.HOST_THREADS is True


def test_every_problem_is_listed_at_once():
    with pytest.raises(SettingsError) as caught:
        load_settings(DEFAULT_CONFIG, dict(BBOX_TRH=0.5, FRAME_SKIP='two'))
    assert len(caught.value.problems) == 1 and 'BBOX_TRH' in caught.value.problems[0]  # names first
    with pytest.raises(SettingsError) as caught:
        load_settings(DEFAULT_CONFIG, dict(FRAME_SKIP='two', ADD_VISIBLE='yes', MAX_WORKERS=1.5))
    assert [p.split(' =')[0] for p in caught.value.problems] == ['FRAME_SKIP', 'MAX_WORKERS', 'ADD_VISIBLE']
    s = load_settings().replace(FRAME_SKIP=0, EXECUTOR='slurm', OUTPUT_FORMATS=('npy', 'csv'), DECODE_QUEUE=0)
    problems = value_problems(s)
    assert len(problems) == 4 and all(name in ' '.join(problems)
                                      for name in ('FRAME_SKIP', 'EXECUTOR', 'OUTPUT_FORMATS', 'DECODE_QUEUE'))


def test_the_script_lists_every_bad_setting_and_exits_2(tmp_path):
    result = subprocess.run([sys.executable, SCRIPT, '--cfg-options', 'FRAME_SKIP=two', 'MAX_WORKERS=1.5',
                             f'NPY_DIR={tmp_path}'], cwd=ROOT, capture_output=True, text=True, timeout=300)
    errors = [line for line in result.stderr.splitlines() if line.startswith('ERROR')]
    assert result.returncode == 2 and len(errors) == 2, result.stderr
    assert not list(tmp_path.iterdir())  # nothing started


def test_one_place_decides_device_threads_and_batch_sizes():
    s = load_settings().replace(DEVICE='cpu', MAX_WORKERS=1, CPU_THREADS=3)
    run = resolve(Options.of(s).compute)
    assert (run.device, run.cpu_threads, run.host_threads) == ('cpu', 3, False)
    assert (run.det_batch_size, run.pose_batch_size) == BATCH_SIZES['cpu']
    assert None not in vars(run).values()  # what a worker runs with is final
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.device = 'cuda:0'
    assert resolve(Options.of(s.replace(POSE_BATCH_SIZE=7, HOST_THREADS=True)).compute).pose_batch_size == 7


def test_multi_person_is_one_of_its_modes():
    from signpose.config import MULTI_PERSON_MODES
    from signpose.engine.signer import MODES
    assert load_settings().MULTI_PERSON == 'skip' and MULTI_PERSON_MODES == MODES
    assert value_problems(load_settings().replace(MULTI_PERSON='signer')) == []
    problems = value_problems(load_settings().replace(MULTI_PERSON='biggest'))
    assert problems == ["MULTI_PERSON must be 'skip', 'largest' or 'signer', not 'biggest'"]


def test_the_script_refuses_an_unknown_multi_person_mode_with_exit_2(tmp_path):
    result = subprocess.run([sys.executable, SCRIPT, '--cfg-options', 'MULTI_PERSON=everyone',
                             f'NPY_DIR={tmp_path}'], cwd=ROOT, capture_output=True, text=True, timeout=300)
    errors = [line for line in result.stderr.splitlines() if line.startswith('ERROR')]
    assert result.returncode == 2 and len(errors) == 1, result.stderr
    assert all(mode in errors[0] for mode in ("'skip'", "'largest'", "'signer'", "'everyone'"))
    assert not list(tmp_path.iterdir())
