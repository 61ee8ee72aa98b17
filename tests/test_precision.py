"""PRECISION on each device: IEEE fp32 on CUDA, float32 heads under reduced precision, nothing kept."""
import pytest
import torch

from signpose.speed.precision import float32_heads, ieee_fp32, precision_context


def _tf32_state():
    return (torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision,
            torch.backends.cudnn.rnn.fp32_precision)


def test_fp32_on_cuda_switches_tf32_off_and_restores_the_flags():
    before = _tf32_state()
    assert before[1] == 'tf32'  # torch's default for cuDNN convolutions: not IEEE fp32
    with precision_context('fp32', 'cuda:0'):
        assert _tf32_state() == ('ieee', 'ieee', 'ieee')
    assert _tf32_state() == before
    with pytest.raises(RuntimeError), ieee_fp32():
        raise RuntimeError('an error inside')
    assert _tf32_state() == before


def test_fp32_on_the_cpu_changes_nothing():
    before = _tf32_state()
    with precision_context('fp32', 'cpu'):
        assert _tf32_state() == before and not torch.is_autocast_enabled('cpu')
    with precision_context('bf16', 'cpu'):
        assert torch.is_autocast_enabled('cpu')


@pytest.fixture(scope='module')
def rtmw3d_head():
    from conftest import RTMW3D_L
    from mmengine.config import Config
    from mmpose.registry import MODELS

    import signpose.nets.rtmw3d  # noqa: F401  (registers the head)

    # mmpose's scope whatever an earlier test left as the default scope (mmdet after a detector)
    head = MODELS.build(dict(Config.fromfile(RTMW3D_L).model.head, _scope_='mmpose')).eval()
    torch.manual_seed(0)
    feats = (torch.randn(2, 512, 24, 18), torch.randn(2, 1024, 12, 9))
    return head, feats


def test_the_pose_head_runs_in_float32_under_reduced_precision(rtmw3d_head):
    head, feats = rtmw3d_head
    pose = torch.nn.Module()
    pose.head = head
    with torch.inference_mode():
        want = head(feats)
        halves = tuple(f.bfloat16() for f in feats)  # what an autocast backbone hands over
        with torch.autocast('cpu', dtype=torch.bfloat16), float32_heads(None, pose, 'bf16', 'cpu'):
            got = head(halves)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            rounded = head(halves)  # without: the head in bf16
        exact = head(tuple(h.float() for h in halves))  # float32 arithmetic on the rounded inputs
    assert all(g.dtype == torch.float32 for g in got)
    for g, e in zip(got, exact):
        assert torch.equal(g, e)
    assert 'forward' not in head.__dict__  # restored
    assert max(float((r.float() - w).abs().max()) for r, w in zip(rounded, want)) > \
        max(float((g - w).abs().max()) for g, w in zip(got, want))


def test_the_detector_head_outputs_float32_only_inside():
    head = torch.nn.Conv2d(3, 4, 1)
    detector = torch.nn.Module()
    detector.bbox_head = head
    x = torch.randn(1, 3, 4, 4)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        with float32_heads(detector, None, 'bf16', 'cpu'):
            assert head(x).dtype == torch.float32
        assert head(x).dtype == torch.bfloat16  # the hook is gone
    with float32_heads(detector, None, 'fp32', 'cpu'):
        assert not head._forward_hooks  # fp32: nothing to do
