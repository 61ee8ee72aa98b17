"""MULTI_PERSON through the real script (seeded weights, real videos): a detector that sees two
persons in every frame (det2.py, as the multi-person test of test_stage_e2e.py), and the one-person
detector, whose runs must not change in any mode."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import GOOD, options, run_stage, write_video

from signpose.api import Extractor
from signpose.config import Options, Settings, load_settings
from signpose.data.manifest import Segment
from signpose.data.tasks import VideoTask
from signpose.data.video import probe
from signpose.nets.detector import Detections
from signpose.nets.devices import Decided
from signpose.nets.inference import Networks
from signpose.run import work

from signpose.engine.signer import AMBIGUOUS, MIN_TRACK_FRAMES, TOO_SHORT, box_areas
from signpose.output.ledger import read_ledgers
from signpose.output.persons import persons_path


def persons_of(npy, name):
    return json.loads(persons_path(npy, name).read_text())


def test_one_person_segments_are_the_same_bytes_in_every_mode(data, first_run):
    skip_npy, _ = first_run
    for mode in ('largest', 'signer'):
        npy = data / f'npy_one_{mode}'
        result = run_stage(options(data, npy, MULTI_PERSON=mode))
        assert result.returncode == 0, result.stderr
        for name in GOOD:
            assert (npy / f'{name}.npy').read_bytes() == (skip_npy / f'{name}.npy').read_bytes(), (mode, name)
        assert not (npy / 'persons').exists()
        assert all(o.selection is None for o in read_ledgers(npy).values())


def test_largest_keeps_the_largest_person_of_each_frame(data):
    npy = data / 'npy_two_largest'
    result = run_stage(options(data, npy, det='det2.py', MULTI_PERSON='largest'))
    assert result.returncode == 0, result.stderr
    ledger = read_ledgers(npy)
    for name in GOOD:
        outcome = ledger[name]
        rows = np.load(npy / f'{name}.npy')
        assert outcome.status == 'written' and len(rows) == outcome.frames
        record = persons_of(npy, name)
        assert record['mode'] == 'largest' and record['frames'] == len(rows)
        for boxes, chosen, row in zip(record['boxes'], record['chosen'], rows):
            areas = box_areas(np.array(boxes))  # rounded to 0.1 px in the file: equal boxes may tie
            assert len(boxes) == 2 and chosen in (0, 1) and areas[chosen] >= areas.max() - 2
            assert row.any()
        assert outcome.selection == dict(mode='largest', several=len(rows), persons=2, missing=[])


def test_signer_decides_each_segment_and_says_why(data):
    npy = data / 'npy_two_signer'
    result = run_stage(options(data, npy, det='det2.py', MULTI_PERSON='signer', OUTPUT_FORMATS='[npy,pose]'))
    assert result.returncode == 0, result.stderr
    ledger = read_ledgers(npy)
    decided = {}
    for name in GOOD:
        outcome = ledger[name]
        audit = outcome.selection
        assert audit['mode'] == 'signer' and audit['persons'] == 2 and audit['tracks'] >= 2, audit
        assert audit['margin'] > 0 and audit['min_track_frames'] == MIN_TRACK_FRAMES
        if outcome.status == 'skipped':
            assert outcome.reason.startswith((AMBIGUOUS + ':', TOO_SHORT + ':')), outcome.reason
            assert not (npy / f'{name}.npy').exists() and not persons_path(npy, name).exists()
            decided[name] = outcome.reason.split(':')[0]
            continue
        assert outcome.status == 'written', outcome
        rows = np.load(npy / f'{name}.npy')
        record = persons_of(npy, name)
        assert record['selection'] == audit and len(record['chosen']) == len(rows) == outcome.frames
        chosen = audit['chosen_track']
        missing = [t for t, c in enumerate(record['chosen']) if c is None]
        for t, (ids, c) in enumerate(zip(record['tracks'], record['chosen'])):
            assert (c is None) == (chosen not in ids) and (c is None or ids[c] == chosen)
            assert rows[t].any() != (c is None)  # the chosen person's rows; zeros where it is absent
        ranges = [[a, b] for a, b in audit['missing']]
        assert sum(b - a + 1 for a, b in ranges) == len(missing)
        assert audit['score'] == record['scores'][0]['score'] and record['scores'][0]['track'] == chosen
        assert audit['runner_up'] is None or audit['score'] - audit['runner_up'] >= audit['margin']
        assert (npy / f'{name}.pose').is_file()
        decided[name] = 'written'
    out = result.stdout
    for kind in set(decided.values()) - {'written'}:
        assert f'Skipped ({kind}): {list(decided.values()).count(kind)}' in out
    # what the rule decided is final for it: the rerun decodes nothing
    again = run_stage(options(data, npy, det='det2.py', MULTI_PERSON='signer', OUTPUT_FORMATS='[npy,pose]'))
    assert 'Tasks: 0 segments' in again.stdout, again.stdout
    print(decided)


def test_segments_skipped_for_several_persons_are_taken_up_by_another_mode(data):
    npy = data / 'npy_two_then_largest'
    assert run_stage(options(data, npy, det='det2.py')).returncode == 0
    assert not list(npy.glob('*.npy'))
    result = run_stage(options(data, npy, det='det2.py', MULTI_PERSON='largest'))
    assert result.returncode == 0, result.stderr
    assert f'Tasks: {len(GOOD)} segments' in result.stdout
    assert {p.stem for p in npy.glob('*.npy')} == set(GOOD)


# ------------------------------------------------------------------ the engine's wiring, scripted
class ScriptedInference:
    """The engine's networks with scripted answers: two persons in every frame (box 0 a still
    bystander, large and central; box 1 a signer at the side, hands moving), their poses made as
    in test_signer.py, one per crop in the order the engine cuts them."""
    BOXES = np.array([[60, 10, 180, 150], [190, 40, 236, 120]], np.float32)

    def __init__(self, persons=2):
        sys.path.insert(0, str(Path(__file__).parent))
        from test_signer import person
        self.person, self.persons, self.crops, self.calls = person, persons, [0, 0], []
        self.detector, self.estimator = _Part(self.prepare_frame, self.detect), _Part(self.prepare_crop, self.pose)

    def networks(self):
        return Networks(self.detector, self.estimator)

    def prepare_frame(self, frame):
        return frame

    def boxes(self):
        return self.BOXES[:self.persons].copy()

    def detect(self, data):
        answers = []
        for _ in data:
            boxes = self.boxes()
            answers.append(Detections(boxes, np.full(len(boxes), 0.9, np.float32)))
        return answers

    def prepare_crop(self, frame, box):
        which = int(np.argmin(np.abs(self.BOXES - box).sum(axis=1)))
        self.crops[which] += 1
        return which, self.crops[which]

    def pose(self, data):
        self.calls.append(len(data))
        out = []
        for which, t in data:
            rng = np.random.default_rng(t)
            if which == 0:
                _, xy, scores = self.person(120, 50, 50, t, 0.0, 'down', rng)
            else:
                _, xy, scores = self.person(213, 60, 20, t, 0.6, 'up', rng)
            out.append((xy.astype(np.float32), np.zeros(133, np.float32), scores.astype(np.float32)))
        return out


class _Part:
    def __init__(self, prepare, call):
        self.prepare, self.call = prepare, call

    def __call__(self, data):
        return self.call(data)


def decided(det=2, pose=3):
    return Decided('cpu', 1, det, pose, False, 'fp32', 'pytorch')


def process_video(task, networks, settings, decided):
    """The stage's engine and writer around scripted networks."""
    options = Options.of(settings)
    return work.process_video(task, Extractor.around(networks, options, decided), options.output)


@pytest.mark.parametrize('mode', ['skip', 'largest', 'signer'])
def test_the_engine_in_each_mode_with_two_scripted_persons(tmp_path, mode):
    video = write_video(tmp_path / 'v.mp4', 60, 30.0, size=(240, 160))
    settings = Settings(**dict(vars(load_settings()), NPY_DIR=str(tmp_path / 'npy'), DEVICE='cpu', MULTI_PERSON=mode,
                               OUTPUT_FORMATS=('npy', 'pose')))
    Path(settings.NPY_DIR).mkdir()
    task = VideoTask('v', probe(video), [Segment('v', 'a', 0.0, 1.0), Segment('v', 'b', 0.5, 1.6)])
    infer = ScriptedInference()
    outcomes = {o.sentence: o for o in process_video(task, infer.networks(), settings, decided())}
    if mode == 'skip':
        assert all(o.reason == 'multiple persons detected' and o.selection is None for o in outcomes.values())
        assert not list(Path(settings.NPY_DIR).iterdir())
        return
    for name, outcome in outcomes.items():
        assert outcome.status == 'written', outcome
        rows = np.load(Path(settings.NPY_DIR) / f'{name}.npy')
        record = persons_of(settings.NPY_DIR, name)
        assert record['selection'] == outcome.selection and len(rows) == outcome.frames == record['frames']
        # 'largest': the bystander (box 0); 'signer': the signer (box 1), in every frame
        assert record['chosen'] == [0 if mode == 'largest' else 1] * len(rows)
        x_centre = rows[:, :2, 0].mean() * 240  # the shoulders' x
        assert abs(x_centre - (120 if mode == 'largest' else 213)) < 6
        assert (Path(settings.NPY_DIR) / f'{name}.pose').is_file()
    from signpose.data.sampling import sample_frames
    frames = len({i for seg in task.segments for i in sample_frames(30.0, seg.start, seg.end, 24.0)})
    if mode == 'signer':
        audit = outcomes['a'].selection
        assert audit['tracks'] == 2 and audit['score'] - audit['runner_up'] > audit['margin']
        # every box of every frame posed, once for both segments, in batches of POSE_BATCH_SIZE
        assert sum(infer.calls) == sum(infer.crops) == 2 * frames and max(infer.calls) == 3
    else:
        assert infer.crops == [frames, 0]  # one crop per frame: the largest box


def test_the_signer_absent_in_some_frames_gives_zero_rows_there(tmp_path):
    class Leaving(ScriptedInference):
        frame = -1

        def boxes(self):
            self.frame += 1
            return self.BOXES.copy() if not 8 <= self.frame < 12 else self.BOXES[:1].copy()
    video = write_video(tmp_path / 'v.mp4', 40, 30.0, size=(240, 160))
    settings = Settings(**dict(vars(load_settings()), NPY_DIR=str(tmp_path / 'npy'), DEVICE='cpu',
                               MULTI_PERSON='signer'))
    Path(settings.NPY_DIR).mkdir()
    task = VideoTask('v', probe(video), [Segment('v', 'a', 0.0, 1.0)])
    (outcome,) = process_video(task, Leaving().networks(), settings, decided(1, 2))
    rows = np.load(Path(settings.NPY_DIR) / 'a.npy')
    assert outcome.status == 'written' and outcome.selection['missing'] == [[8, 11]]
    assert not rows[8:12].any() and rows[:8].any(axis=(1, 2)).all() and rows[12:].any(axis=(1, 2)).all()


def test_which_skips_are_final_in_which_mode_and_the_ledger_line():
    from signpose.contract.outcomes import MULTIPLE_PERSONS, NO_PERSON, Outcome
    several = Outcome('a', 'v', 'skipped', MULTIPLE_PERSONS)
    ambiguous = Outcome('b', 'v', 'skipped', f'{AMBIGUOUS}: the best two persons score 0.5 and 0.49, within 0.05')
    short = Outcome('c', 'v', 'skipped', f'{TOO_SHORT}: the longest of 2 track(s) is in 3 frame(s)')
    nobody = Outcome('d', 'v', 'skipped', NO_PERSON)
    assert [several.is_final(m) for m in ('skip', 'largest', 'signer')] == [True, False, False]
    assert [ambiguous.is_final(m) for m in ('skip', 'largest', 'signer')] == [False, False, True]
    assert short.is_final('signer') and not short.is_final('largest') and nobody.is_final('signer')
    assert 'selection' not in nobody.record()  # the lines of one-person segments are as before
    assert Outcome('e', 'v', 'written', selection=dict(mode='largest')).record()['selection'] == dict(mode='largest')
