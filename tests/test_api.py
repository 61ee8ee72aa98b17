"""The library (signpose/api.py): the README's three lines, the API's arrays equal to the command's
.npy files bit for bit (one segment, several of a video, every MULTI_PERSON mode), an image of
several persons, and the bad inputs (a wrong keyword, a checkpoint that cannot be had)."""
import re
import subprocess
import sys
import types

import numpy as np
import pytest

import signpose
from signpose.api import Extractor, SegmentSkipped
from signpose.config import SettingsError
from signpose.output.ledger import read_ledgers
from conftest import GOOD, ROOT, SCRIPT, options

# every setting the e2e data needs, as the API's keywords (tests/conftest.py: options())


def keywords(data, det='det1.py', **extra):
    return dict(det_model_config=str(data / det), det_model_checkpoint=str(data / 'det.pth'),
                pose_model_checkpoint=str(data / 'pose.pth'), bbox_thr=0.0, device='cpu', pose_batch_size=4,
                **extra)


@pytest.fixture(scope='module')
def extractor(data):
    return Extractor(**keywords(data))


def test_the_readme_shows_three_lines_from_import_to_landmarks(data, extractor, tmp_path, monkeypatch):
    """The README's API example, run as written; only the Extractor gets the test's seeded
    checkpoints (the official ones cannot be downloaded here)."""
    text = (ROOT / 'README.md').read_text()
    block = re.search(r'<!-- api-example -->\s*```python\n(.*?)```', text, re.S).group(1)
    code = [line for line in block.splitlines() if line.strip() and not line.strip().startswith('#')]
    assert len(code) == 3 and code[0].strip() == 'import signpose', code
    video = re.search(r"'([^']+\.mp4)'", block).group(1)
    (tmp_path / video).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / video).write_bytes((data / 'videos' / 'v30.mp4').read_bytes())
    monkeypatch.chdir(tmp_path)
    seeded = types.SimpleNamespace(Extractor=lambda **given: Extractor(**{**keywords(data), **given}))
    namespace = {}
    exec(compile(block.replace('import signpose', 'signpose = seeded'), 'README', 'exec'),
         {'seeded': seeded}, namespace)
    landmarks = next(v for v in namespace.values() if isinstance(v, np.ndarray))
    assert landmarks.dtype == np.float32 and landmarks.ndim == 3 and landmarks.shape[1:] == (85, 4)


def test_one_segment_equals_the_commands_file(data, first_run, extractor):
    npy, _ = first_run
    for name, (video, start, end) in GOOD.items():
        array = extractor.segment(data / 'videos' / f'{video}.mp4', start, end)
        written = np.load(npy / f'{name}.npy')
        assert array.dtype == written.dtype and array.shape == written.shape, name
        assert array.tobytes() == written.tobytes(), name


def test_several_segments_of_a_video_decoded_once_equal_the_commands_files(data, first_run, extractor):
    npy, _ = first_run
    names = [n for n, (v, *_) in GOOD.items() if v == 'v30']
    spans = [(n, GOOD[n][1], GOOD[n][2]) for n in reversed(names)]  # any order: results follow it
    results = extractor.segments(data / 'videos' / 'v30.mp4', spans + [('tiny', 0.0, 0.1)], keypoints=True)
    assert [r.name for r in results] == [n for n, *_ in spans] + ['tiny']
    for result in results[:-1]:
        assert result.status == 'written' and result.reason == ''
        assert result.landmarks.tobytes() == np.load(npy / f'{result.name}.npy').tobytes(), result.name
        assert result.keypoints.xy.shape == (len(result.landmarks), 133, 2) and result.fps == 24.0
        assert result.quality['frames'] == len(result.landmarks)
    tiny = results[-1]
    assert tiny.landmarks is None and tiny.status == 'skipped' and tiny.reason.startswith('too short')


@pytest.mark.parametrize('mode', ['skip', 'largest', 'signer'])
def test_every_multi_person_mode_equals_the_command(data, tmp_path, mode):
    """Two persons in every frame (the test detector det2.py): the API gives what the command wrote,
    and where the command skipped, the same reason."""
    manifest = tmp_path / 'manifest.tsv'
    rows = [(n, *GOOD[n]) for n in ('v30_a', 'v30_b', 'v25_a')]
    manifest.write_text('VIDEO_NAME\tSENTENCE_NAME\tSTART\tEND\n' + ''.join(f'{v}\t{n}\t{a}\t{b}\n' for n, v, a, b in rows))
    npy = tmp_path / 'npy'
    args = options(data, npy, det='det2.py', MULTI_PERSON=mode, CSV_FILE=manifest)
    result = subprocess.run([sys.executable, SCRIPT, *args], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    ledger = read_ledgers(npy)
    extractor = Extractor(**keywords(data, det='det2.py', multi_person=mode))
    for name, video, start, end in rows:
        [got] = extractor.segments(data / 'videos' / f'{video}.mp4', [(name, start, end)])
        outcome = ledger[name]
        assert got.status == outcome.status and got.reason == outcome.reason, (mode, name)
        assert got.selection == outcome.selection and got.quality == outcome.quality
        if outcome.status == 'written':
            assert got.landmarks.tobytes() == np.load(npy / f'{name}.npy').tobytes(), (mode, name)
        else:
            assert not (npy / f'{name}.npy').exists()
            with pytest.raises(SegmentSkipped, match=re.escape(outcome.reason.split(':')[0])):
                extractor.segment(data / 'videos' / f'{video}.mp4', start, end)
    if mode == 'skip':
        assert all(o.reason == 'multiple persons detected' for o in ledger.values())


def test_an_image_of_several_persons(data, scene):
    extractor = Extractor(**keywords(data, det='det2.py'))
    people = extractor.image(scene)
    assert len(people) == 2
    height, width = scene.shape[:2]
    for person in people:
        assert person.box.shape == (4,) and person.keypoints.shape == (133, 3) and person.scores.shape == (133,)
        assert person.keypoints.dtype == np.float32 and np.isfinite(person.keypoints).all()
        assert 0 <= person.scores.min() and person.scores.max() <= 1
        assert 0 <= person.score <= 1
    # each person's keypoints are those of the pose model on that box alone (the batch changes nothing)
    for person in people:
        [(xy, z, _)] = extractor.networks.estimator.estimate([scene], [person.box])
        assert np.array_equal(person.keypoints[:, :2], np.float32(xy)) and np.array_equal(person.keypoints[:, 2], np.float32(z))
    with pytest.raises(ValueError, match='BGR image'):
        extractor.image(np.zeros((10, 10), np.uint8))


def test_a_wrong_keyword_names_itself_and_the_choices():
    with pytest.raises(TypeError, match=r"unknown setting 'devcie' \(did you mean 'device'\?\).*bbox_thr"):
        Extractor(devcie='cpu')
    with pytest.raises(SettingsError, match='MULTI_PERSON'):
        Extractor(multi_person='everyone')


def test_the_package_import_stays_light():
    """`import signpose` (also made at start-up by setup.sh's hook) loads no torch and no mmcv."""
    code = 'import sys, signpose; print(sorted(m for m in ("torch", "mmcv", "mmdet", "mmpose") if m in sys.modules))'
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == '[]'
    assert {'Extractor', 'Person', 'SegmentResult', 'SegmentSkipped'} <= set(signpose.__all__)
