"""The hand pass (HAND_MODEL_CONFIG; docs/hands.md): the hand model's points equal mmpose's own
``inference_topdown`` on the same boxes (an official-layout checkpoint of seeded weights, loaded by
the stage's code), the boxes from crafted keypoints, the fusion rule on crafted scores, the engine's
wiring (scripted networks), the stage through the real script (audit file, ledger fields) and,
without a hand model, the very bytes of a run without it."""
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import GOOD, MODEL_CONFIGS, options, run_stage, write_video

from signpose.api import Extractor
from signpose.common.errors import SetupError
from signpose.config import Options, load_settings
from signpose.data.manifest import Segment
from signpose.data.tasks import VideoTask
from signpose.data.video import probe
from signpose.engine.hand_boxes import EMPTY, FOREARM, FOREARM_CENTRE, MIN_SCORE, OUTSIDE, POINTS, WEAK, \
    hand_box, hand_boxes
from signpose.engine.hand_fusion import HandLog, fuse, replace_where_surer
from signpose.engine.video import hands_pass
from signpose.nets.detector import Detections
from signpose.nets.devices import Decided
from signpose.nets.hands import BatchedHandEstimator
from signpose.nets.inference import Networks
from signpose.nets.loading import load_hand_model
from signpose.output.hands import hands_path, read_hands, replaced_points
from signpose.output.ledger import read_ledgers
from signpose.run.work import process_video
from tests.support.seeded_weights import make_seeded_checkpoint

HAND5 = str(MODEL_CONFIGS / 'rtmpose-m_8xb256-210e_hand5-256x256.py')
LEFT, RIGHT = np.arange(91, 112), np.arange(112, 133)


@pytest.fixture(scope='session')
def hand_checkpoint(tmp_path_factory):
    """An official-layout checkpoint ({'meta': {'dataset_meta'}, 'state_dict'}) of seeded weights."""
    return make_seeded_checkpoint('pose', HAND5, tmp_path_factory.mktemp('hand') / 'hand.pth', salt=3)


@pytest.fixture(scope='module')
def hand_model(hand_checkpoint):
    return load_hand_model(HAND5, str(hand_checkpoint))  # the stage's loading: strict


def person(centre=(100.0, 80.0), spread=12.0, score=0.9, seed=0):
    """A crafted person's 133 keypoints: the body about ``centre``, the left hand to the left of it,
    the right hand to the right, each hand's 21 points spread over ``spread`` pixels."""
    rng = np.random.default_rng(seed)
    xy = np.zeros((133, 2)) + centre
    scores = np.full(133, score, np.float32)
    cx, cy = centre
    xy[[7, 8]] = [[cx - 30, cy + 10], [cx + 30, cy + 10]]  # elbows
    xy[[9, 10]] = [[cx - 40, cy + 30], [cx + 40, cy + 30]]  # wrists
    xy[LEFT] = [cx - 45, cy + 40] + rng.uniform(-spread / 2, spread / 2, (21, 2))
    xy[RIGHT] = [cx + 45, cy + 40] + rng.uniform(-spread / 2, spread / 2, (21, 2))
    return xy.astype(np.float32), np.zeros(133, np.float32), scores


# ------------------------------------------------------------------ the config and the model


def test_the_projects_config_is_the_official_architecture_and_loads_strictly(hand_model):
    """The self-contained config builds exactly the state dict of mmpose's own hand5 config, so the
    official checkpoint loads into it strictly; the model is a 21-keypoint top-down one."""
    from mmpose.apis import init_model
    official = Path(__import__('mmpose').__file__).parent / '.mim' / 'configs' / 'hand_2d_keypoint' / 'rtmpose' / \
        'hand5' / 'rtmpose-m_8xb256-210e_hand5-256x256.py'
    theirs = init_model(str(official), None, device='cpu')
    assert {k: tuple(v.shape) for k, v in hand_model.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert hand_model.dataset_meta['num_keypoints'] == 21 and not hand_model.training
    link = load_settings().HAND_MODEL_CHECKPOINT_LINK
    assert link.endswith('rtmpose-m_simcc-hand5_pt-aic-coco_210e-256x256-74fb594_20230320.pth')


def test_a_config_that_is_not_a_hand_model_and_a_checkpoint_that_does_not_fit_are_one_line(tmp_path, hand_checkpoint):
    seventeen = tmp_path / 'seventeen.py'
    seventeen.write_text(f'_base_ = {HAND5!r}\nmodel = dict(head=dict(out_channels=17))\n')
    with pytest.raises(SetupError) as err:
        load_hand_model(str(seventeen), str(hand_checkpoint))
    assert 'not the 21 of a hand' in str(err.value) and '\n' not in str(err.value)
    wide = tmp_path / 'wide.py'  # a 21-keypoint model of another width: the checkpoint does not fit it
    wide.write_text(f'_base_ = {HAND5!r}\nmodel = dict(backbone=dict(widen_factor=0.5), head=dict(in_channels=512))\n')
    with pytest.raises(SetupError) as err:
        load_hand_model(str(wide), str(hand_checkpoint))
    assert 'hand model checkpoint' in str(err.value) and 'does not fit' in str(err.value)
    assert '\n' not in str(err.value)


def test_the_pass_equals_mmposes_inference_topdown_on_the_same_boxes(hand_model, scene):
    """Both hands of several frames in one batch compute what inference_topdown computes per frame."""
    from mmpose.apis import inference_topdown
    height, width = scene.shape[:2]
    frames = [scene, np.ascontiguousarray(scene[:, ::-1])]
    persons = [person((width * 0.5, height * 0.4), 30, seed=1), person((width * 0.45, height * 0.5), 50, seed=2)]
    for xy, _, scores in persons:
        scores[LEFT] = scores[RIGHT] = 0.0  # the whole-body hands weakest: every hand point is the hand model's
        scores[LEFT[:10]] = scores[RIGHT[:10]] = 0.01
    boxes = [[b.box for b in hand_boxes(xy, np.maximum(scores, 1.0), width, height)] for xy, _, scores in persons]
    estimator = BatchedHandEstimator(hand_model, 'cpu', 'fp32', batch_size=4)
    crops = [estimator.prepare(frame, box) for frame, pair in zip(frames, boxes) for box in pair]
    ours = estimator(crops)  # four hands, one call
    for f, (frame, pair) in enumerate(zip(frames, boxes)):
        theirs = inference_topdown(hand_model, frame, np.stack(pair))
        for side in range(2):
            got_xy, got_scores = ours[2 * f + side]
            np.testing.assert_allclose(got_xy, theirs[side].pred_instances.keypoints[0], rtol=0, atol=1e-3)
            np.testing.assert_allclose(got_scores, theirs[side].pred_instances.keypoint_scores[0], rtol=0, atol=1e-5)
    # the engine's pass: boxes from the keypoints (strong enough: the wrists and elbows), fused
    strong = [(xy, z, np.where(np.isin(np.arange(133), np.r_[LEFT, RIGHT]), 0.0, 0.9).astype(np.float32))
              for xy, z, _ in persons]
    refined = hands_pass(estimator, frames, strong, width, height)
    for frame, pose, (fused, record) in zip(frames, strong, refined):
        used = [b for b in hand_boxes(pose[0], pose[2], width, height)]
        assert [b.rule for b in used] == [FOREARM, FOREARM] and record.rules == (FOREARM, FOREARM)
        theirs = inference_topdown(hand_model, frame, np.stack([b.box for b in used]))
        for side, points in enumerate((LEFT, RIGHT)):
            np.testing.assert_allclose(fused[0][points], theirs[side].pred_instances.keypoints[0], rtol=0, atol=1e-3)
            np.testing.assert_array_equal(record.boxes[side], used[side].box)
            assert record.replaced[side].all()
        np.testing.assert_array_equal(fused[1], pose[1])  # z: RTMW3D's


# ------------------------------------------------------------------ boxes


def test_boxes_from_the_hand_keypoints_and_the_wrist():
    xy, _, scores = person()
    box = hand_box(xy, scores, 'left', 200, 160)
    chosen = xy[np.r_[LEFT, 9]]
    assert box.rule == POINTS
    np.testing.assert_allclose(box.box, np.r_[chosen.min(axis=0), chosen.max(axis=0)], atol=1e-5)
    scores[9] = MIN_SCORE / 2  # a weak wrist is left out
    np.testing.assert_allclose(hand_box(xy, scores, 'left', 200, 160).box,
                               np.r_[xy[LEFT].min(axis=0), xy[LEFT].max(axis=0)], atol=1e-5)


def test_weak_hand_keypoints_take_the_elbow_to_wrist_direction():
    xy, _, scores = person()
    scores[RIGHT] = MIN_SCORE / 2
    box = hand_box(xy, scores, 'right', 200, 160)
    forearm = xy[10] - xy[8]
    length = np.hypot(*forearm)
    centre = xy[10] + FOREARM_CENTRE * forearm
    assert box.rule == FOREARM
    np.testing.assert_allclose(box.box, np.r_[centre - length / 2, centre + length / 2], atol=1e-4)
    assert hand_box(xy, scores, 'left', 200, 160).rule == POINTS  # the other hand is as it was
    scores[8] = 0.0  # and without the elbow: no box
    assert hand_box(xy, scores, 'right', 200, 160).rule == WEAK


def test_a_hand_leaving_the_frame_and_a_box_of_zero_size_keep_the_whole_body_values():
    xy, z, scores = person(centre=(100.0, 80.0))
    xy[LEFT] -= [140, 0]  # the left hand mostly out of the frame, on the left
    xy[RIGHT] = xy[RIGHT[0]]  # every right-hand point at one place, the wrist too: zero size
    xy[10] = xy[RIGHT[0]]
    boxes = hand_boxes(xy, scores, 200, 160)
    assert [b.rule for b in boxes] == [OUTSIDE, EMPTY] and all(b.box is None for b in boxes)
    fused, record = fuse((xy, z, scores), boxes, [None, None])
    np.testing.assert_array_equal(fused[0], xy)
    np.testing.assert_array_equal(fused[2], scores)
    assert record.rules == (OUTSIDE, EMPTY) and np.isnan(record.boxes).all() and not record.replaced.any()
    log = HandLog(2)
    log.put(0, record)
    summary = log.summary(2)
    assert summary['left']['kept'] == {OUTSIDE: 1} and summary['right']['kept'] == {EMPTY: 1}
    assert summary['left']['replaced'] == 0.0 and summary['left']['boxes'] == 0
    audit = log.audit(2, ('hand.py', 'hand.pth'))
    assert audit['left']['rule'] == [OUTSIDE, None] and audit['left']['boxes'] == [None, None]


# ------------------------------------------------------------------ the fusion rule


def test_the_fusion_rule_takes_the_hand_models_point_where_it_is_surer():
    body = np.array([0.2, 0.5, 1.5, 2.0, 0.7, 0.0], np.float32)
    hand = np.array([0.3, 0.4, 2.0, 1.0, 0.7, -1.0], np.float32)
    # clipped to [0, 1] both: 0.3 > 0.2 yes; 0.4 < 0.5 no; 1 = 1 no (both saturated); 1 = 1 no;
    # equal no; 0 = 0 no
    assert replace_where_surer(np.zeros((6, 2)), body, np.zeros((6, 2)), hand).tolist() == \
        [True, False, False, False, False, False]
    assert not replace_where_surer(np.zeros((1, 2)), [0.1], [[np.nan, 1.0]], [0.9]).any()  # never a NaN point

    xy, z, scores = person()
    z[:] = np.linspace(-1, 1, 133)
    scores[LEFT] = np.linspace(0.0, 1.0, 21)
    hand_xy = xy[LEFT] + 5.0
    hand_scores = np.full(21, 0.5, np.float32)
    boxes = hand_boxes(xy, np.full(133, 0.9), 200, 160)
    (new_xy, new_z, new_scores), record = fuse((xy, z, scores), boxes, [(hand_xy, hand_scores), None])
    take = np.linspace(0.0, 1.0, 21) < 0.5
    np.testing.assert_array_equal(new_xy[LEFT][take], hand_xy[take])
    np.testing.assert_array_equal(new_xy[LEFT][~take], xy[LEFT][~take])
    np.testing.assert_array_equal(new_scores[LEFT], np.where(take, 0.5, scores[LEFT]))  # the kept value's score
    np.testing.assert_array_equal(new_z, z)  # z: RTMW3D's
    np.testing.assert_array_equal(new_xy[RIGHT], xy[RIGHT])  # no hand model points: as it was
    assert record.replaced[0].tolist() == take.tolist() and not record.replaced[1].any()
    assert record.before[0] == pytest.approx(0.5) and record.after[0] == pytest.approx(np.clip(new_scores[LEFT], 0, 1).mean())
    assert xy[LEFT].tolist() != new_xy[LEFT].tolist()  # the whole-body arrays themselves are not changed
    assert scores[LEFT].tolist() == np.linspace(0.0, 1.0, 21).astype(np.float32).tolist()


# ------------------------------------------------------------------ the engine's wiring, scripted


class ScriptedNetworks:
    """One person per frame (a fixed box); whole-body hands scored 0.4 with the left hand's points
    spread, the right hand's collapsed into one point (zero size); a hand model that answers every
    crop with its box's corners and centre, scored 0.8."""

    def __init__(self):
        self.hand_calls, self.boxes = [], []
        self.detector = _Part(lambda frame: frame, lambda data: [
            Detections(np.array([[40, 20, 200, 150]], np.float32), np.array([0.9], np.float32)) for _ in data])
        self.estimator = _Part(lambda frame, box: frame, self.pose)
        self.hands = _Part(self.prepare_hand, self.hand)
        self.hands.batch_size, self.hands.source = 8, ('hand.py', 'hand.pth')

    def pose(self, data):
        out = []
        for _ in data:
            xy, z, scores = person((120.0, 70.0), 20)
            scores[LEFT] = scores[RIGHT] = 0.4
            xy[RIGHT] = xy[10] = xy[RIGHT[0]]
            out.append((xy, z, scores))
        return out

    def prepare_hand(self, frame, box):
        self.boxes.append(np.array(box))
        return np.array(box)

    def hand(self, crops):
        self.hand_calls.append(len(crops))
        return [(np.linspace(box[:2], box[2:], 21).astype(np.float32), np.full(21, 0.8, np.float32)) for box in crops]

    def networks(self, hands=True):
        return Networks(self.detector, self.estimator, self.hands if hands else None)


class _Part:
    def __init__(self, prepare, call):
        self.prepare, self.call = prepare, call

    def __call__(self, data):
        return self.call(data)


def test_the_engine_refines_both_hands_of_a_pose_batch_in_one_call(tmp_path):
    video = write_video(tmp_path / 'v.mp4', 40, 30.0, size=(240, 160))
    task = VideoTask('v', probe(video), [Segment('v', 'a', 0.0, 1.0), Segment('v', 'b', 0.5, 1.3)])
    runs = {}
    for hands in (False, True):
        settings = load_settings().replace(NPY_DIR=str(tmp_path / f'npy_{hands}'), DEVICE='cpu',
                                           OUTPUT_FORMATS=('npy', 'pose'))
        Path(settings.NPY_DIR).mkdir()
        options = Options.of(settings)
        scripted = ScriptedNetworks()
        extractor = Extractor.around(scripted.networks(hands), options, Decided('cpu', 1, 2, 3, False, 'fp32', 'pytorch'))
        runs[hands] = scripted, {o.sentence: o for o in process_video(task, extractor, options.output)}
    scripted, outcomes = runs[True]
    # one crop per frame's left hand (the right one is empty), the three persons of a pose batch together
    assert max(scripted.hand_calls) == 3 and sum(scripted.hand_calls) == len(scripted.boxes)
    for name, outcome in outcomes.items():
        plain = np.load(tmp_path / 'npy_False' / f'{name}.npy')
        rows = np.load(tmp_path / 'npy_True' / f'{name}.npy')
        audit = read_hands(hands_path(tmp_path / 'npy_True', name))
        assert outcome.status == 'written' and audit['frames'] == len(rows) == outcome.frames
        assert audit['left']['rule'] == [POINTS] * len(rows) and audit['right']['rule'] == [EMPTY] * len(rows)
        assert all(replaced_points(m) == list(range(21)) for m in audit['left']['replaced'])
        assert audit['right']['boxes'] == [None] * len(rows) and set(audit['right']['replaced']) == {0}
        left = slice(85 - 42, 85 - 21)
        box = np.array(audit['left']['boxes'][0], np.float32)
        expected = np.linspace(box[:2], box[2:], 21).astype(np.float32) / [240, 160]
        np.testing.assert_allclose(rows[0, left, :2], expected, atol=1e-6)
        np.testing.assert_allclose(rows[:, left, 3], 0.8)  # the hand model's score: the value kept
        np.testing.assert_array_equal(rows[:, left, 2], plain[:, left, 2])  # z: RTMW3D's
        np.testing.assert_array_equal(rows[:, 85 - 21:], plain[:, 85 - 21:])  # the empty hand: as it was
        np.testing.assert_array_equal(rows[:, :85 - 42], plain[:, :85 - 42])  # body and face: as they were
        assert outcome.hands['left'] == dict(replaced=1.0, before=0.4, after=0.8, boxes=len(rows), kept={})
        assert outcome.hands['right'] == dict(replaced=0.0, before=0.4, after=0.4, boxes=0, kept={EMPTY: len(rows)})
        from signpose.output.pose_file import npy_rows_from_pose, read_pose
        pose = read_pose(tmp_path / 'npy_True' / f'{name}.pose')  # the .pose holds the refined hands
        keypoints = load_settings().COCO_WHOLEBODY_IDX
        np.testing.assert_array_equal(npy_rows_from_pose(pose, keypoints), rows)
    assert all(o.hands is None for o in runs[False][1].values())
    assert not (tmp_path / 'npy_False' / 'hands').exists()


# ------------------------------------------------------------------ the stage, through the real script


@pytest.fixture(scope='module')
def hand_run(data, hand_checkpoint):
    npy = data / 'npy_hands'
    result = run_stage(options(data, npy, HAND_MODEL_CONFIG=HAND5, HAND_MODEL_CHECKPOINT=hand_checkpoint,
                               OUTPUT_FORMATS='[npy,pose]'))
    assert result.returncode == 0, result.stdout + result.stderr
    return npy, result


def test_the_stage_with_a_hand_model_writes_the_audit_file_and_the_ledger_fields(first_run, hand_run):
    npy, result = hand_run
    assert 'hand model   rtmpose-m_8xb256-210e_hand5-256x256.py' in result.stdout
    assert 'Loaded hand model' in result.stdout
    ledger = read_ledgers(npy)
    for name in GOOD:
        outcome, rows = ledger[name], np.load(npy / f'{name}.npy')
        audit = json.loads(hands_path(npy, name).read_text())
        assert audit['frames'] == len(rows) == outcome.frames and Path(audit['model']).name == Path(HAND5).name
        for side in ('left', 'right'):
            record = outcome.hands[side]
            assert set(record) == {'replaced', 'before', 'after', 'boxes', 'kept'}
            assert 0.0 <= record['replaced'] <= 1.0 and record['after'] >= record['before']
            assert record['boxes'] + sum(record['kept'].values()) == len(rows)
            assert len(audit[side]['boxes']) == len(rows)
        # against the run without the hand pass: the points not replaced are its values bit for bit, a
        # replaced one is surer than its whole-body value was (its visibility: the hand model's score)
        plain = np.load(first_run[0] / f'{name}.npy')
        replaced = np.zeros(rows.shape[:2], bool)
        for side, first in (('left', 85 - 42), ('right', 85 - 21)):
            for t, mask in enumerate(audit[side]['replaced']):
                replaced[t, [first + k for k in replaced_points(mask)]] = True
            share = replaced[:, first:first + 21].mean()
            assert outcome.hands[side]['replaced'] == pytest.approx(share, abs=1e-4)
        np.testing.assert_array_equal(rows[~replaced], plain[~replaced])
        np.testing.assert_array_equal(rows[..., 2], plain[..., 2])  # z: RTMW3D's everywhere
        assert (rows[replaced][:, 3] > plain[replaced][:, 3]).all()
        print(name, {side: outcome.hands[side] for side in ('left', 'right')})
    (summary,) = [line for line in (npy / 'ledger.jsonl').read_text().splitlines() if '"v30_a"' in line]
    assert '"hands"' in summary


def test_without_a_hand_model_the_stage_writes_the_same_bytes(data, first_run):
    npy = data / 'npy_hands_off'
    result = run_stage(options(data, npy, HAND_MODEL_CONFIG=None))
    assert result.returncode == 0, result.stderr
    assert 'hand model' not in result.stdout
    for name in GOOD:
        assert (npy / f'{name}.npy').read_bytes() == (first_run[0] / f'{name}.npy').read_bytes(), name
    assert not (npy / 'hands').exists()
    assert '"hands"' not in (npy / 'ledger.jsonl').read_text()


def test_a_hand_config_that_is_not_a_hand_model_stops_the_stage_with_one_line(data, tmp_path, hand_checkpoint):
    seventeen = tmp_path / 'seventeen.py'
    seventeen.write_text(f'_base_ = {HAND5!r}\nmodel = dict(head=dict(out_channels=17))\n')
    result = run_stage(options(data, tmp_path / 'npy', HAND_MODEL_CONFIG=seventeen,
                               HAND_MODEL_CHECKPOINT=hand_checkpoint, EXECUTOR='inline'))
    errors = [line for line in result.stderr.splitlines() if line.startswith('ERROR')]
    assert result.returncode == 2 and len(errors) == 1 and 'not the 21 of a hand' in errors[0], result.stderr
    assert not list((tmp_path / 'npy').glob('*.npy'))


def test_the_api_refines_the_hands_as_the_stage_does(data, hand_run, hand_checkpoint, scene):
    npy, _ = hand_run
    extractor = Extractor(det_model_config=str(data / 'det1.py'), det_model_checkpoint=str(data / 'det.pth'),
                          pose_model_checkpoint=str(data / 'pose.pth'), bbox_thr=0.0, device='cpu', pose_batch_size=4,
                          hand_model_config=HAND5, hand_model_checkpoint=str(hand_checkpoint))
    spans = [(name, start, end) for name, (video, start, end) in GOOD.items() if video == 'v30']
    ledger = read_ledgers(npy)
    for result in extractor.segments(data / 'videos' / 'v30.mp4', spans):
        assert result.landmarks.tobytes() == np.load(npy / f'{result.name}.npy').tobytes(), result.name
        assert result.hands == ledger[result.name].hands
    (found,) = extractor.image(scene)
    plain = Extractor.around(Networks(extractor.networks.detector, extractor.networks.estimator), extractor.options)
    (before,) = plain.image(scene)
    height, width = scene.shape[:2]
    pose = before.keypoints[:, :2], before.keypoints[:, 2], before.scores
    ((xy, _, scores), _), = hands_pass(extractor.networks.hands, [scene], [pose], width, height)
    # (the Person's keypoints are float32: the boxes made from them may differ in the last bit)
    np.testing.assert_allclose(found.keypoints[:, :2], xy, rtol=0, atol=1e-3)
    np.testing.assert_allclose(found.scores, np.clip(scores, 0, 1), rtol=0, atol=1e-5)
