"""The engine's rewrites of parts of the networks compute bit-identical values."""
import contextlib
import copy

import pytest
import torch
from conftest import RTMDET_M

from signpose.install.checkpoints import install_safe_checkpoint_loader
from tests.support.seeded_weights import make_seeded_checkpoint
from signpose.speed.speedups import Speedups, WindowedBoxBranch, _cascade_steps


@pytest.mark.parametrize('library', ['mmdet', 'mmpose'])
def test_cascaded_spp_equals_the_side_by_side_pools(library):
    if library == 'mmdet':
        from mmdet.models.backbones.csp_darknet import SPPBottleneck
    else:
        from mmpose.models.backbones.csp_darknet import SPPBottleneck
    torch.manual_seed(0)
    spp = SPPBottleneck(32, 32, kernel_sizes=(5, 9, 13), act_cfg=dict(type='SiLU')).eval()
    assert _cascade_steps(spp.poolings) == [5, 5, 5]
    speedups = Speedups(spp, None, 'cpu')
    assert len(speedups.patches) == 1
    with torch.inference_mode():
        for shape in ((1, 32, 20, 20), (2, 32, 7, 13), (1, 32, 1, 30), (3, 32, 12, 9)):
            x = torch.randn(shape) * 3
            expected = spp(x)
            with speedups.active():
                got = spp(x)
            assert torch.equal(got, expected), shape
    assert 'forward' not in spp.__dict__  # the rewrite is off outside the block


def test_spp_with_other_pools_is_left_alone():
    from mmdet.models.backbones.csp_darknet import SPPBottleneck
    assert _cascade_steps(SPPBottleneck(8, 8, kernel_sizes=(5, 9, 13)).poolings) == [5, 5, 5]
    assert _cascade_steps(SPPBottleneck(8, 8, kernel_sizes=(3, 7)).poolings) == [3, 5]
    assert _cascade_steps(SPPBottleneck(8, 8, kernel_sizes=(9, 5)).poolings) == []
    odd = SPPBottleneck(8, 8, kernel_sizes=(5, 9))
    odd.poolings[1] = torch.nn.MaxPool2d(9, stride=2, padding=4)
    assert Speedups(odd, None, 'cpu').patches == []


@pytest.fixture(scope='module')
def rtmdet(tmp_path_factory):
    """Seeded RTMDet-M through the real loading code, and its neck features for two images."""
    from mmdet.apis import init_detector
    install_safe_checkpoint_loader()
    folder = tmp_path_factory.mktemp('speedups')
    detector = init_detector(RTMDET_M, str(make_seeded_checkpoint('det', RTMDET_M, folder / 'm.pth')), device='cpu')
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(2, 3, 640, 640, generator=generator)
    images[:, :, 480:] = -1.7  # the letterbox padding of a 640x480 frame
    with torch.inference_mode():
        feats = detector.extract_feat(images)
    return detector, feats


def _threshold_leaving(cls_scores, at_least: int) -> float:
    """A score_thr that at least ``at_least`` (class, position) scores exceed, chosen from the
    scores this CPU computed: seeded weights saturate many sigmoids to exactly 1.0 on some CPUs,
    so a rank's value may tie with the top one and leave no candidate at all."""
    ranked = torch.cat([c.sigmoid().flatten() for c in cls_scores]).sort(descending=True).values
    below_the_previous = torch.nonzero(ranked[1:] < ranked[:-1]).flatten() + 1  # ranks starting a new value
    rank = below_the_previous[below_the_previous >= at_least]
    assert rank.numel(), f'fewer than {at_least} distinct candidates'
    score_thr = float(ranked[int(rank[0])])
    assert int(sum((c.sigmoid() > score_thr).sum() for c in cls_scores)) >= at_least
    return score_thr


@contextlib.contextmanager
def scores_only_in_rows(detector, level: int, first: int, last: int):
    """Class scores far below any threshold outside rows [first, last) of one level (and on the
    other levels): the candidates lie in that band by construction, whatever this CPU computes.
    The scores inside the band, and all the box features, are the network's own."""
    head = detector.bbox_head
    saved = [conv.__dict__.get('forward') for conv in head.rtm_cls]
    for idx, conv in enumerate(head.rtm_cls):
        def masked(x, conv=conv, idx=idx):
            scores = type(conv).forward(conv, x)
            keep = torch.zeros_like(scores, dtype=torch.bool)
            if idx == level:
                keep[:, :, first:last] = True
            return scores.masked_fill(~keep, -30.0)
        conv.forward = masked
    try:
        yield
    finally:
        for conv, forward in zip(head.rtm_cls, saved):
            if forward is None:
                del conv.forward
            else:
                conv.forward = forward


def _candidates(cls_scores, score_thr):
    """Per level, the (batch, row, column) positions where some class scores above score_thr."""
    return [(c.sigmoid() > score_thr).any(dim=1) for c in cls_scores]


def _head_outputs(detector, feats, score_thr, speedups=None):
    head = detector.bbox_head
    saved = head.test_cfg
    head.test_cfg = copy.deepcopy(saved)
    head.test_cfg['score_thr'] = score_thr
    try:
        with torch.inference_mode():
            if speedups is None:
                cls_scores, bbox_preds = head(feats)
            else:
                with speedups.active():
                    cls_scores, bbox_preds = head(feats)
            metas = [dict(img_shape=(640, 640), scale_factor=(1.0, 1.0), ori_shape=(640, 640))] * len(feats[0])
            results = head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=metas, rescale=False)
    finally:
        head.test_cfg = saved
    return cls_scores, bbox_preds, results


@pytest.mark.parametrize('confined', [False, True], ids=['scores-as-computed', 'scores-in-a-band'])
@pytest.mark.parametrize('batch', [1, 2])
def test_windowed_box_branch_is_bit_identical(rtmdet, batch, confined):
    """At thresholds leaving 1 to 600 candidates, every box the post-processing can read, and its
    boxes, scores and labels, equal the full head's bit for bit. With the scores as this CPU
    computes them the band may or may not skip rows (that depends on where they peak); with the
    candidates confined to a band of one level, it must skip rows at every threshold."""
    detector, all_feats = rtmdet
    feats = tuple(f[:batch] for f in all_feats)
    band = scores_only_in_rows(detector, 1, 8, 16) if confined else contextlib.nullcontext()
    with band:
        with torch.inference_mode():
            cls_scores, _ = detector.bbox_head(feats)
        partial = 0
        for top in (1, 6, 60, 600):  # thresholds leaving (at least) that many (class, position) candidates
            score_thr = _threshold_leaving(cls_scores, top)
            speedups = Speedups(detector, None, 'cpu')
            expected = _head_outputs(detector, feats, score_thr)
            got = _head_outputs(detector, feats, score_thr, speedups)
            for level, (mask, e_cls, g_cls, e_box, g_box) in enumerate(
                    zip(_candidates(expected[0], score_thr), expected[0], got[0], expected[1], got[1])):
                assert torch.equal(g_cls, e_cls)
                # every box the post-processing can read is bit-identical
                assert torch.equal(g_box.permute(0, 2, 3, 1)[mask], e_box.permute(0, 2, 3, 1)[mask]), (top, level)
            assert sum(len(e) for e in expected[2]) > 0
            for e, g in zip(expected[2], got[2]):
                for key in ('bboxes', 'scores', 'labels'):
                    assert torch.equal(g[key], e[key]), (top, key)
            computed, total = speedups.box_branch.rows
            partial += computed < total
    if confined:
        assert partial == 4  # the band really skipped rows in every case


def test_a_machine_whose_kernels_differ_falls_back_to_the_full_branch(rtmdet, monkeypatch):
    detector, feats = rtmdet
    # candidates in rows 8-15 of the stride-16 level, so that the band is used on any CPU
    with scores_only_in_rows(detector, 1, 8, 16):
        _falls_back(detector, feats, monkeypatch)


def _falls_back(detector, feats, monkeypatch):
    with torch.inference_mode():
        cls_scores, _ = detector.bbox_head(feats)
    score_thr = _threshold_leaving(cls_scores, 1)
    expected = _head_outputs(detector, feats, score_thr)
    real_box_rows = WindowedBoxBranch.box_rows

    def off_by_a_bit(self, *args):  # as oneDNN might round on another CPU
        band = real_box_rows(self, *args)
        return None if band is None else band * (1 + 1e-6)

    monkeypatch.setattr(WindowedBoxBranch, 'box_rows', off_by_a_bit)
    speedups = Speedups(detector, None, 'cpu')
    with pytest.warns(UserWarning, match='computed in full'):
        got = _head_outputs(detector, feats, score_thr, speedups)
    assert list(speedups.box_branch.trusted.values()) == [False]
    for mask, e_box, g_box in zip(_candidates(expected[0], score_thr), expected[1], got[1]):
        assert torch.equal(g_box.permute(0, 2, 3, 1)[mask], e_box.permute(0, 2, 3, 1)[mask])
    before = speedups.box_branch.rows[0]
    again = _head_outputs(detector, feats, score_thr, speedups)  # that band shape in full from now on
    masks = _candidates(expected[0], score_thr)
    for mask, e_box, g_box in zip(masks, expected[1], again[1]):
        assert torch.equal(g_box.permute(0, 2, 3, 1)[mask], e_box.permute(0, 2, 3, 1)[mask])
    assert speedups.box_branch.rows[0] - before == sum(m.shape[1] for m in masks if m.any())


def test_the_box_branch_is_windowed_only_on_the_cpu_in_float32(rtmdet):
    detector, _ = rtmdet
    assert hasattr(Speedups(detector, None, 'cpu'), 'box_branch')
    assert not hasattr(Speedups(detector, None, 'cpu', precision='bf16'), 'box_branch')
    assert not hasattr(Speedups(detector, None, 'cuda:0'), 'box_branch')
    assert Speedups(detector, None, 'cpu', enabled=False).patches == []


def test_active_keeps_a_forward_set_by_someone_else(rtmdet):
    detector, feats = rtmdet
    head = detector.bbox_head
    calls = []
    original = head.forward

    def counting(feats):
        calls.append(1)
        return original(feats)

    head.forward = counting
    try:
        with Speedups(detector, None, 'cpu').active():
            assert head.forward is not counting
        assert head.forward is counting
    finally:
        del head.forward
