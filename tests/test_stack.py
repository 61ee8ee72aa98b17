"""The installed OpenMMLab stack itself."""
import importlib
import re
from pathlib import Path

import pytest
import torch

SETUP = Path(__file__).resolve().parents[1] / 'setup.sh'


def setup_pin(name: str) -> str:
    """A version that setup.sh pins (``NAME=version`` at the start of a line)."""
    found = re.search(rf'^{name}=(\S+)', SETUP.read_text(), re.M)
    assert found, f'{name} is not set in setup.sh'
    return found.group(1)


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
    # setup.sh offers two numpys (NUMPY=1|2); CI runs the suite in a venv of each
    assert numpy.__version__ in (setup_pin('NUMPY1_VERSION'), setup_pin('NUMPY2_VERSION'))
    assert cv2.__version__ == '4.11.0'  # the golden crops depend on it
    assert torch.__version__.startswith('2.13.0')


def test_xtcocotools_was_built_against_this_numpy():
    """Built against numpy 1, it fails to import under numpy 2 ('numpy.dtype size changed');
    its RLE encoding must agree with pycocotools'."""
    import numpy as np
    import pycocotools.mask
    from xtcocotools import mask
    square = np.zeros((8, 8, 1), dtype=np.uint8, order='F')
    square[2:6, 1:4] = 1
    rle = mask.encode(square)
    assert rle[0]['counts'] == pycocotools.mask.encode(square)[0]['counts']
    polygon = mask.frPyObjects([[1.0, 2.0, 4.0, 2.0, 4.0, 6.0, 1.0, 6.0]], 8, 8)
    assert polygon[0]['counts'] == pycocotools.mask.frPyObjects([[1.0, 2.0, 4.0, 2.0, 4.0, 6.0, 1.0, 6.0]], 8, 8)[0]['counts']
    if np.__version__.startswith('1.'):
        assert mask.area(rle).tolist() == [12]
        assert mask.toBbox(rle).tolist() == [[1.0, 2.0, 3.0, 4.0]]
        np.testing.assert_array_equal(mask.decode(rle), square)
    else:
        # xtcocotools 1.14.3 (the newest) compiles np.NPY_OWNDATA, which numpy 2 renamed, into its
        # area, decode, toBbox and iou: they fail under numpy 2. Only mmpose's COCO evaluation and
        # bottom-up training use them, never the stage. When this starts passing, say so in the README.
        with pytest.raises(AttributeError, match='NPY_OWNDATA'):
            mask.area(rle)


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
