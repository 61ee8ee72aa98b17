"""MULTI_PERSON's rules on crafted keypoint sequences (no model): the tracks, the signing score,
the decision (signer/engine/signer.py)."""
import numpy as np
import pytest

from signpose.engine import signer as sg

W, H = 640, 360
T = 48  # 2 s at 24 fps


def person(cx, cy, s, t, moving=0.0, hands='down', rng=None, jitter=0.01, raw_score=2.5):
    """One person's box and 133 keypoints: shoulders' midpoint (cx, cy), shoulder width s pixels.

    ``moving``: how far the hands travel (shoulder widths) around the signing space, at ~1 Hz;
    ``hands``: 'down' (hanging beside the hips) or 'up' (in front of the chest). Every keypoint
    jitters by ``jitter`` shoulder widths, as a model's estimate does; raw scores like RTMW3D's.
    """
    rng = rng or np.random.default_rng(0)
    xy = np.zeros((133, 2))
    xy[:] = (cx, cy - 0.8 * s)  # face and the rest around the head
    xy[23:91] += rng.normal(0, 0.15 * s, (68, 2))
    xy[0:5] = (cx, cy - 0.8 * s)
    xy[5], xy[6] = (cx + s / 2, cy), (cx - s / 2, cy)  # the person's left shoulder is on image right
    xy[7], xy[8] = (cx + s / 2, cy + 0.8 * s), (cx - s / 2, cy + 0.8 * s)
    xy[11], xy[12] = (cx + s / 3, cy + 1.6 * s), (cx - s / 3, cy + 1.6 * s)
    xy[13:23] = (cx, cy + 2.2 * s)
    phase = 2 * np.pi * t / 24
    for side, wrist, root in ((1, 9, 91), (-1, 10, 112)):
        if hands == 'up':
            w = np.array([cx + side * 0.3 * s, cy + 0.5 * s])
            w += moving * s * np.array([np.sin(phase + side), np.cos(1.3 * phase)])
        else:
            w = np.array([cx + side * 0.55 * s, cy + 1.75 * s])
        xy[wrist] = xy[root] = w
        for finger in range(5):
            angle = -np.pi / 2 + (finger - 2) * 0.35 + (moving * np.sin(2 * phase + finger) if hands == 'up' else 0)
            for k in range(1, 5):
                xy[root + 1 + 4 * finger + k - 1] = w + 0.08 * s * k * np.array([np.cos(angle), np.sin(angle)])
    xy += rng.normal(0, jitter * s, xy.shape)
    box = np.array([cx - 0.9 * s, cy - 1.4 * s, cx + 0.9 * s, cy + 2.3 * s])
    box = np.clip(box + rng.normal(0, 0.01 * s, 4), 0, [W, H, W, H])
    return box, xy, np.full(133, raw_score)


def frames_of(*people, frames=T, seed=0):
    """sg.Persons per frame; each of ``people`` is a function t -> (box, xy, scores) or None (absent)."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(frames):
        found = [p(t, rng) for p in people]
        found = [f for f in found if f is not None]
        if not found:
            out.append(sg.Persons.nobody())
            continue
        boxes, xy, scores = zip(*found)
        out.append(sg.Persons(np.array(boxes), np.full(len(found), 0.9), np.array(xy, np.float32),
                              np.zeros((len(found), 133), np.float32), np.array(scores, np.float32)))
    return out


def signer_at(cx, cy=130, s=90, moving=0.6, when=lambda t: True):
    return lambda t, rng: person(cx, cy, s, t, moving, 'up', rng) if when(t) else None


def bystander_at(cx, cy=130, s=90, when=lambda t: True, hands='down'):
    return lambda t, rng: person(cx, cy, s, t, 0.0, hands, rng) if when(t) else None


def chosen_centres(selection, frames):
    """The x centre of the chosen box per frame (None where nobody is chosen)."""
    return [None if c is None else float(frames[t].boxes[c][[0, 2]].mean()) for t, c in enumerate(selection.chosen)]


def assert_follows(selection, frames, cx, tolerance=20, present=lambda t: True):
    assert selection.reason == '', selection.reason
    for t, x in enumerate(chosen_centres(selection, frames)):
        if present(t):
            assert x is not None and abs(x - cx) < tolerance, (t, x)
        else:
            assert x is None, t


# ------------------------------------------------------------------ the five cases of the issue
def test_a_signer_beside_a_still_bystander_is_chosen():
    frames = frames_of(bystander_at(200), signer_at(450))
    selection = sg.select_signer(frames, W, H)
    assert_follows(selection, frames, 450)
    best, other = selection.scores
    assert best.parts['motion'] > other.parts['motion'] and best.parts['hands_up'] == 1.0
    assert other.parts['hands_up'] == 0.0
    assert selection.audit()['missing'] == [] and selection.audit()['tracks'] == 2
    # the detector's order of the boxes does not matter
    flipped = [sg.Persons(p.boxes[::-1], p.scores[::-1], p.xy[::-1], p.z[::-1], p.keypoint_scores[::-1])
               for p in frames]
    assert_follows(sg.select_signer(flipped, W, H), flipped, 450)


def test_a_still_bystander_with_hands_up_still_loses_to_the_moving_signer():
    frames = frames_of(bystander_at(200, hands='up'), signer_at(450))
    assert_follows(sg.select_signer(frames, W, H), frames, 450)


@pytest.mark.parametrize('first', [0, 1])
def test_two_signers_taking_turns_each_segment_keeps_the_one_who_signs(first):
    # a conversation: in each caption's segment one of the two signs, the other watches
    people = [signer_at(180), bystander_at(180)], [signer_at(460), bystander_at(460)]
    frames = frames_of(people[0][first], people[1][1 - first])
    assert_follows(sg.select_signer(frames, W, H), frames, 180 if first == 0 else 460)


def test_two_signers_alternating_within_a_segment():
    # turns of equal length in one segment: nobody is the segment's signer
    halves = frames_of(signer_at(180, when=lambda t: t < T // 2), bystander_at(180, when=lambda t: t >= T // 2),
                       signer_at(460, when=lambda t: t >= T // 2), bystander_at(460, when=lambda t: t < T // 2))
    selection = sg.select_signer(halves, W, H)
    assert selection.reason.startswith(sg.AMBIGUOUS) and selection.chosen == [None] * T
    # one signs three quarters of the segment: that one
    uneven = frames_of(signer_at(180, when=lambda t: t < 36), bystander_at(180, when=lambda t: t >= 36),
                       signer_at(460, when=lambda t: t >= 36), bystander_at(460, when=lambda t: t < 36))
    assert_follows(sg.select_signer(uneven, W, H), uneven, 180)


def test_a_larger_central_still_bystander_loses_to_a_small_signer_at_the_side():
    frames = frames_of(bystander_at(W / 2, cy=110, s=150), signer_at(560, cy=180, s=50))
    selection = sg.select_signer(frames, W, H)
    assert_follows(selection, frames, 560, tolerance=10)
    signer_score, bystander_score = selection.scores
    assert bystander_score.parts['size'] > signer_score.parts['size']
    assert bystander_score.parts['centre'] > signer_score.parts['centre']
    # the 'largest' rule takes the bystander: the reason 'signer' exists
    assert_follows(sg.select_largest(frames), frames, W / 2)


def test_a_signer_who_appears_halfway_is_chosen_and_missing_before():
    frames = frames_of(bystander_at(200), signer_at(450, when=lambda t: t >= T // 2))
    selection = sg.select_signer(frames, W, H)
    assert_follows(selection, frames, 450, present=lambda t: t >= T // 2)
    assert selection.missing() == list(range(T // 2)) and selection.audit()['missing'] == [[0, T // 2 - 1]]


def test_someone_walking_in_halfway_does_not_take_the_segment():
    # a passer-by enters at the left halfway and walks across, arms swinging below the hips
    def walker(t, rng):
        if t < T // 2:
            return None
        box, xy, scores = person(40 + 12 * (t - T // 2), 140, 80, t, 0.0, 'down', rng)
        swing = 0.3 * 80 * np.sin(2 * np.pi * t / 12)
        xy[[9, 91]] += (swing, 0)
        xy[92:112] += (swing, 0)
        xy[[10, 112]] -= (swing, 0)
        xy[113:133] -= (swing, 0)
        return box, xy, scores
    frames = frames_of(signer_at(W / 2), walker)
    selection = sg.select_signer(frames, W, H)
    assert_follows(selection, frames, W / 2)


def test_two_people_signing_alike_is_ambiguous_with_both_scores():
    frames = frames_of(signer_at(180), signer_at(460))
    selection = sg.select_signer(frames, W, H)
    assert selection.skipped and selection.reason.startswith(sg.AMBIGUOUS + ':')
    a, b = selection.scores
    assert f'{a.score:.3f}' in selection.reason and f'{b.score:.3f}' in selection.reason
    assert abs(a.score - b.score) < sg.AMBIGUOUS_MARGIN and selection.chosen == [None] * T
    audit = selection.audit()
    assert audit['score'] == round(a.score, 4) and audit['runner_up'] == round(b.score, 4)
    assert 'missing' not in audit


def test_no_track_long_enough_is_skipped_saying_so():
    frames = frames_of(signer_at(180), bystander_at(460), frames=sg.MIN_TRACK_FRAMES - 1)
    selection = sg.select_signer(frames, W, H)
    assert selection.reason.startswith(sg.TOO_SHORT) and str(sg.MIN_TRACK_FRAMES) in selection.reason
    # a flicker shorter than the minimum is neither chosen nor a runner-up
    frames = frames_of(signer_at(180), signer_at(460, when=lambda t: t < 3))
    selection = sg.select_signer(frames, W, H)
    assert_follows(selection, frames, 180) and selection.runner_up is None


# ------------------------------------------------------------------ association
def test_people_walking_past_each_other_keep_their_tracks():
    # two boxes cross: one walks right, the other left, overlapping fully in the middle frames
    boxes = [np.array([[100 + 8 * t, 50, 200 + 8 * t, 300], [484 - 8 * t, 50, 584 - 8 * t, 300]], float)
             for t in range(T)]
    ids = sg.link_tracks(boxes)
    assert all(list(i) == [0, 1] for i in ids)


def test_tracks_survive_missing_frames_and_end_after_a_long_gap():
    still = np.array([300, 40, 400, 340], float)
    other = np.array([20, 40, 120, 340], float)
    gone = range(20, 20 + sg.MAX_GAP + 1)  # longer than MAX_GAP
    boxes = []
    for t in range(48):
        frame = [other] if t % 2 == 0 else []  # the detector sees the second person every other frame
        if not (10 <= t < 14 or t in gone):  # the first misses 4 frames, then more than MAX_GAP
            frame = [still] + frame
        boxes.append(np.array(frame).reshape(-1, 4))
    ids = sg.link_tracks(boxes)
    track_of_still = [int(i[0]) for t, i in enumerate(ids) if len(i) and np.allclose(boxes[t][0], still)]
    assert set(track_of_still[:16]) == {0}  # frames 0-9 and 14-19: one track across the 4 missing
    assert set(track_of_still[16:]) == {2}  # back after the long gap: a new track
    assert {int(i[-1]) for t, i in enumerate(ids) if t % 2 == 0} == {1}


def test_boxes_that_do_not_overlap_enough_are_not_linked():
    boxes = [np.array([[0, 0, 100, 100]], float), np.array([[80, 0, 180, 100]], float)]  # IoU 0.11
    assert [list(i) for i in sg.link_tracks(boxes)] == [[0], [1]]
    assert sg.iou_matrix(boxes[0], boxes[1])[0, 0] == pytest.approx(20 / 180)


def test_the_largest_rule_and_empty_frames():
    frames = [sg.Persons(np.array([[0, 0, 10, 10], [0, 0, 20, 30], [5, 5, 25, 35]]), np.ones(3)),
              sg.Persons.nobody(), sg.Persons(np.array([[0, 0, 10, 10], [10, 10, 20, 20]]), np.ones(2))]
    selection = sg.select_largest(frames)
    assert selection.chosen == [1, None, 0] and not selection.skipped
    assert selection.audit() == dict(mode='largest', several=2, persons=3, missing=[[1, 1]])
    assert sg.select('signer', [sg.Persons.nobody()] * 3, W, H).reason.startswith(sg.TOO_SHORT)
    with pytest.raises(ValueError, match="'skip', 'largest', 'signer'"):
        sg.select('biggest', frames, W, H)


def test_the_score_is_normalised_by_the_person_s_size():
    # the same signing seen twice as large moves twice as many pixels: the same motion part
    near = frames_of(signer_at(300, s=120))
    far = frames_of(signer_at(300, s=60))
    parts = [sg.select_signer(f, W, H).scores[0].parts['motion'] for f in (near, far)]
    assert parts[0] == pytest.approx(parts[1], abs=0.02)


def test_the_sidecar_record_is_plain_json():
    import json
    frames = frames_of(bystander_at(200), signer_at(450))
    record = sg.select_signer(frames, W, H).boxes_record()
    again = json.loads(json.dumps(record))
    assert again['frames'] == T and len(again['boxes'][0]) == 2 and again['chosen'][0] in (0, 1)
    assert again['selection']['mode'] == 'signer' and len(again['tracks']) == T
