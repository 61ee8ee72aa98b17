"""The installed OpenMMLab stack itself."""
import importlib

import torch


def test_mmcv_ops_nms_runs_on_cpu():
    from mmcv.ops import nms
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.7])
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    assert dets.shape == (2, 5)


def test_apis_import():
    for name in ('mmdet.apis', 'mmpose.apis', 'mmengine', 'mmcv.ops'):
        importlib.import_module(name)


def test_pinned_versions():
    import cv2
    import mmcv
    import mmdet
    import mmengine
    import mmpose
    import numpy
    assert (mmcv.__version__, mmdet.__version__, mmpose.__version__, mmengine.__version__) == \
        ('2.1.0', '3.3.0', '1.3.2', '0.10.7')
    assert numpy.__version__ == '1.26.4'
    assert cv2.__version__ == '4.11.0'  # the golden crops depend on it
    assert torch.__version__.startswith('2.13.0')


def test_torchvision_stand_in_only_offers_what_mmpose_uses():
    import numpy as np
    import torchvision
    if not getattr(torchvision, 'IS_SHIM', False):
        return  # a real torchvision is installed: nothing to check
    from torchvision.transforms import ToPILImage
    image = ToPILImage()(torch.rand(3, 8, 6))
    assert image.size == (6, 8)
    assert np.asarray(image).dtype == np.uint8
    try:
        torchvision.models  # noqa: B018
    except ImportError as err:
        assert 'stand-in' in str(err)
    else:
        raise AssertionError('the stand-in must not pretend to have more of torchvision')
