"""RTMW3D: the official architectures, and the reference implementation's outputs."""
import numpy as np
import pytest
import torch
from conftest import FIXTURES, RTMW3D_L, RTMW3D_X, shapes_of, state_dict_manifest

from signpose.install.checkpoints import install_safe_checkpoint_loader
from tests.support.seeded_weights import save_openmmlab_checkpoint, seeded_state_dict


@pytest.fixture(scope='module')
def golden():
    return np.load(FIXTURES / 'rtmw3d-l_seeded.npz')


def _model(config=RTMW3D_L, checkpoint=None):
    from mmpose.apis import init_model
    return init_model(config, checkpoint, device='cpu')


def _run_recording(model, image, bbox):
    """inference_topdown, recording the neck outputs and head logits on the way."""
    from mmpose.apis import inference_topdown
    seen = {}
    model.neck.register_forward_hook(lambda m, i, out: seen.__setitem__('neck', out))
    forward = model.head.forward

    def recording_forward(feats):
        seen['head'] = forward(feats)
        return seen['head']

    model.head.forward = recording_forward
    sample = inference_topdown(model, image, bbox[None])[0]
    return sample, seen


@pytest.mark.parametrize('config, manifest', [
    (RTMW3D_L, 'rtmw3d-l_8xb64_cocktail14-384x288'),
    (RTMW3D_X, 'rtmw3d-x_8xb32_cocktail14-384x288'),
])
def test_state_dict_equals_the_official_architecture(config, manifest):
    assert shapes_of(_model(config)) == state_dict_manifest(manifest)


def test_config_defaults(golden):
    model = _model()
    assert model.test_cfg['mode'] == '3d'
    assert model.dataset_meta['num_keypoints'] == 133
    assert model.dataset_meta['dataset_name'] == 'h3wb'
    codec = model.head.decoder
    assert codec.input_size == (288, 384, 288) and codec.root_index == [11, 12]
    assert codec.root_z == pytest.approx(5.14388) and codec.z_range == pytest.approx(2.1744869)


def test_seeded_rtmw3d_l_reproduces_the_reference(golden, scene):
    model = _model()
    model.load_state_dict(seeded_state_dict(model, int(golden['salt'])), strict=True)
    sample, seen = _run_recording(model, scene, golden['bbox'])
    pred = sample.pred_instances

    for i, name in enumerate(('neck_0', 'neck_1')):
        np.testing.assert_allclose(seen['neck'][i][0].numpy(), golden[name], rtol=0, atol=1e-4)
    for i, name in enumerate(('simcc_x', 'simcc_y', 'simcc_z')):
        np.testing.assert_allclose(seen['head'][i][0].numpy(), golden[name], rtol=0, atol=1e-4)
    np.testing.assert_allclose(pred.transformed_keypoints[0], golden['transformed_keypoints'], rtol=0, atol=1e-5)
    # '3d' mode: camera space with the principal point at the image centre (w/2, h/2). The
    # reference takes it from ori_shape / 2 = (h/2, w/2), i.e. with x and y swapped; its
    # 'keypoints_3d_camera_centred' holds the corrected values this implementation gives.
    np.testing.assert_allclose(pred.keypoints[0], golden['keypoints_3d_camera_centred'], rtol=0, atol=1e-5)
    assert np.abs(pred.keypoints[0, :, :2] - golden['keypoints_3d_camera'][:, :2]).max() > 1e-3
    np.testing.assert_allclose(pred.keypoint_scores[0], golden['keypoint_scores'], rtol=0, atol=1e-4)
    assert pred.keypoint_scores.max() > 1  # raw scores are not bounded by 1
    # root-relative z (what the stage saves) = camera z - the mean root depth
    np.testing.assert_allclose(pred.keypoint_depths[0] + 5.14388, golden['keypoints_3d_camera_centred'][:, 2],
                               rtol=0, atol=1e-5)


def test_2d_mode_gives_image_pixels(golden, scene):
    from mmpose.apis import inference_topdown
    model = _model()
    model.load_state_dict(seeded_state_dict(model, int(golden['salt'])), strict=True)
    model.test_cfg['mode'] = '2d'
    pred = inference_topdown(model, scene, golden['bbox'][None])[0].pred_instances
    np.testing.assert_allclose(pred.keypoints[0], golden['transformed_keypoints'], rtol=0, atol=1e-5)


def test_checkpoint_file_gives_the_same_result_as_the_state_dict(tmp_path, golden, scene):
    from mmpose.apis import inference_topdown
    direct = _model()
    weights = seeded_state_dict(direct, salt=7)
    direct.load_state_dict(weights, strict=True)
    checkpoint = save_openmmlab_checkpoint(weights, tmp_path / 'rtmw3d-l.pth', direct.dataset_meta)
    install_safe_checkpoint_loader()  # its meta holds numpy values: init_model loads it as the stage does
    loaded = _model(checkpoint=str(checkpoint))
    for name, value in loaded.state_dict().items():
        assert torch.equal(value, weights[name]), name
    a = inference_topdown(direct, scene, golden['bbox'][None])[0].pred_instances
    b = inference_topdown(loaded, scene, golden['bbox'][None])[0].pred_instances
    for key in ('keypoints', 'transformed_keypoints', 'keypoint_scores', 'keypoint_depths'):
        np.testing.assert_array_equal(a[key], b[key])


def test_codec_decode_marks_non_positive_scores():
    from signpose.nets.rtmw3d import SimCC3DLabel
    codec = SimCC3DLabel(input_size=(288, 384, 288), simcc_split_ratio=2.0, root_index=(11, 12))
    x = np.full((1, 2, 576), -1.0, dtype=np.float32)
    y = np.full((1, 2, 768), -1.0, dtype=np.float32)
    z = np.zeros((1, 2, 576), dtype=np.float32)
    x[0, 0, 100], y[0, 0, 300], z[0, 0, 288] = 2.0, 3.0, 1.0  # keypoint 0: x=50, y=150, z=0 m
    keypoints, simcc, scores = codec.decode(x, y, z)
    np.testing.assert_allclose(keypoints[0, 0], [50, 150, 0.0])
    assert scores[0, 0] == 2.0  # the smaller of the x and y maxima
    assert (keypoints[0, 1, :2] == -0.5).all()  # not positive: -1 bins, i.e. -0.5 px


def test_decode_where_the_logits_are_equals_the_numpy_decode():
    """The head reduces the logits with torch (on a GPU: on the device) and decodes the maxima;
    the result is bit for bit the codec's numpy decode, ties resolved to the first bin alike."""
    from signpose.nets.rtmw3d import SimCC3DLabel
    from signpose.nets.rtmw3d.head import RTMW3DHead
    codec = dict(type='SimCC3DLabel', input_size=(288, 384, 288), simcc_split_ratio=2.0, root_index=(11, 12))
    head = RTMW3DHead(in_channels=64, out_channels=133, input_size=(288, 384, 288), in_featuremap_size=(9, 12, 9),
                      decoder=codec)
    g = torch.Generator().manual_seed(0)
    # coarse values: many exact ties of the maximum; some keypoints with no positive score
    x, y, z = (torch.round(torch.randn(6, 133, n, generator=g) * 2) / 2 for n in (576, 768, 576))
    x[0, :5] = 1.0  # whole rows tied
    y[1, :5] = -3.0  # negative maxima: marked -1
    for dtype in (torch.float32, torch.float16):
        got = head.decode(tuple(t.to(dtype) for t in (x, y, z)))
        want_kpts, want_simcc, want_scores = SimCC3DLabel(**{k: v for k, v in codec.items() if k != 'type'}).decode(
            *(t.to(dtype).float().numpy() for t in (x, y, z)))
        for i, instance in enumerate(got):
            assert instance.keypoints.dtype == want_kpts.dtype and instance.keypoint_scores.dtype == want_scores.dtype
            np.testing.assert_array_equal(instance.keypoints, want_kpts[i:i + 1])
            np.testing.assert_array_equal(instance.keypoints_simcc, want_simcc[i:i + 1])
            np.testing.assert_array_equal(instance.keypoint_scores, want_scores[i:i + 1])
    assert (head.decode((x, y, z))[0].keypoints[0, :5, 0] == 0).all()  # the first of the tied bins
