"""The per-segment quality measures (signpose.engine.quality.py) on crafted arrays with known values."""
import numpy as np
import pytest

from signpose.config import load_settings
from signpose.engine.quality import KEYS, LEFT_WRIST, RIGHT_WRIST, part_positions, quality_score, segment_quality

IDX = list(load_settings().COCO_WHOLEBODY_IDX)
KPT_THR = 0.3


def crafted(frames=5, channels=4):
    """Shoulders 0.2 apart; every part at its own visibility; the left wrist moving 0.01 a frame."""
    rows = np.zeros((frames, len(IDX), channels), np.float32)
    rows[:, :, :2] = 0.5
    rows[:, IDX.index(5), 0], rows[:, IDX.index(6), 0] = 0.6, 0.4
    rows[:, IDX.index(LEFT_WRIST), 0] = 0.5 + 0.01 * np.arange(frames)
    if channels == 4:
        parts = part_positions(IDX)
        for part, value in (('body', 0.9), ('face', 0.8), ('lhand', 0.6), ('rhand', 0.2)):
            rows[:, parts[part], 3] = value
    return rows


def test_confidences_presence_and_jitter_have_their_known_values():
    q = segment_quality(crafted(), IDX, KPT_THR)
    assert set(q) == set(KEYS)
    assert (q['frames'], q['person']) == (5, 5)
    assert (q['body'], q['face'], q['lhand'], q['rhand']) == (0.9, 0.8, 0.6, 0.2)
    assert (q['lhand_in'], q['rhand_in']) == (1.0, 0.0)  # right hand: 0.2 < KPT_THR
    assert q['jitter_l'] == 0.05  # 0.01 / 0.2
    assert q['jitter_r'] is None  # the right hand is never present
    assert q['top'] is q['second'] is q['multi'] is None  # no detection scores given
    assert quality_score(q) == 0.5


def test_frames_without_a_person_are_left_out():
    rows = crafted(6)
    rows[[1, 4]] = 0
    rows[2, :, 3] = 0.0  # a frame with a person and nothing visible (not all zeros: x, y are set)
    q = segment_quality(rows, IDX, KPT_THR)
    assert (q['frames'], q['person']) == (6, 4)
    assert q['body'] == round(0.9 * 3 / 4, 3)
    assert q['lhand_in'] == 0.75  # present in frames 0, 3, 5 of the 4 with a person
    assert q['jitter_l'] is None  # consecutive frames with the hand present in both: none
    rows[2, :, 3] = 0.6
    q = segment_quality(rows, IDX, KPT_THR)
    assert q['jitter_l'] == 0.05  # pair (2, 3) only


def test_without_visibility_only_what_can_be_computed():
    q = segment_quality(crafted(channels=3), IDX, KPT_THR)
    assert q['body'] is q['lhand'] is q['lhand_in'] is None
    assert q['jitter_l'] == 0.05 and q['jitter_r'] == 0.0  # every pair counts without visibility
    assert quality_score(q) is None


def test_no_person_at_all():
    q = segment_quality(np.zeros((3, len(IDX), 4), np.float32), IDX, KPT_THR)
    assert (q['frames'], q['person'], q['body'], q['jitter_l']) == (3, 0, None, None)
    assert quality_score(q) is None


def test_detection_scores_second_person_and_the_deciding_frame():
    scores = [np.array([0.9]), np.array([0.95, 0.2]), np.array([0.8, 0.45, 0.35]), np.array([0.7, 0.6])]
    q = segment_quality(crafted(4), IDX, KPT_THR, scores, bbox_thr=0.3)
    assert q['top'] == 0.95 and q['second'] == 0.6
    assert q['multi'] == 2
    assert q['multi_scores'] == [0.8, 0.45, 0.35]
    q = segment_quality(crafted(4), IDX, KPT_THR, [np.array([0.5])] * 4, bbox_thr=0.3)
    assert (q['second'], q['multi'], q['multi_scores']) == (None, 0, None)


@pytest.mark.parametrize('frames', [0, 1])
def test_too_short_for_movement(frames):
    q = segment_quality(crafted(frames) if frames else np.zeros((0, len(IDX), 4), np.float32), IDX, KPT_THR)
    assert q['jitter_l'] is None and q['frames'] == frames


def test_frozen_rows_clipped_points_and_identical_segments():
    rows = crafted(8)
    q = segment_quality(rows, IDX, KPT_THR)
    assert q['frozen'] == 1 and q['clipped'] == 0.0  # the wrist moves every frame; nothing on the edge
    still = np.repeat(crafted(1), 8, axis=0)
    still[0] = crafted(2)[1]  # the first frame differs, the 7 after it are one row
    frozen = segment_quality(still, IDX, KPT_THR)
    assert frozen['frozen'] == 7
    clipped = crafted(4)
    clipped[:, :10, 1] = 0.0  # 10 of the shown points of every frame on the top edge
    shown = (clipped[0, :, 3] >= KPT_THR).sum()
    assert segment_quality(clipped, IDX, KPT_THR)['clipped'] == pytest.approx(10 / shown, abs=1e-3)
    assert segment_quality(crafted(3), IDX, KPT_THR)['first_row'] == q['first_row']
    assert segment_quality(crafted(3) * 0.9, IDX, KPT_THR)['first_row'] != q['first_row']
