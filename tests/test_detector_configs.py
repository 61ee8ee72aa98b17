"""The project's RTMDet configs: the official architectures, and the golden RTMDet-M output."""
import numpy as np
import pytest
from conftest import FIXTURES, RTMDET_M, RTMDET_M_PERSON, RTMDET_NANO_PERSON, shapes_of, state_dict_manifest

from signpose.install.checkpoints import install_safe_checkpoint_loader
from tests.support.seeded_weights import save_openmmlab_checkpoint, seeded_state_dict


def _build(config):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    register_all_modules(init_default_scope=False)
    return MODELS.build(Config.fromfile(config).model)


@pytest.mark.parametrize('config, manifest', [
    (RTMDET_M, 'rtmdet_m_8xb32-300e_coco'),
    (RTMDET_M_PERSON, 'rtmdet_m_640-8xb32_coco-person'),
    (RTMDET_NANO_PERSON, 'rtmdet_nano_320-8xb32_coco-person'),
])
def test_state_dict_equals_the_official_architecture(config, manifest):
    assert shapes_of(_build(config)) == state_dict_manifest(manifest)


def test_rtmdet_m_reproduces_the_seeded_golden_output(tmp_path, scene):
    from mmdet.apis import inference_detector, init_detector
    install_safe_checkpoint_loader()
    golden = np.load(FIXTURES / 'rtmdet_m_coco_seeded.npz')
    weights = seeded_state_dict(_build(RTMDET_M), int(golden['salt']))
    checkpoint = save_openmmlab_checkpoint(weights, tmp_path / 'rtmdet_m.pth')
    model = init_detector(RTMDET_M, str(checkpoint), device='cpu')
    pred = inference_detector(model, scene).pred_instances.cpu().numpy()
    assert len(pred.scores) == len(golden['scores'])
    # near-tied scores reorder with the thread count: compare as sets
    for box, score, label in zip(golden['bboxes'], golden['scores'], golden['labels']):
        match = (pred.labels == label) & (np.abs(pred.scores - score) <= 1e-4) & \
                (np.abs(pred.bboxes - box).max(axis=1) <= 0.5)
        assert match.any(), f'no project box for golden box {box} label {label} score {score}'
