"""Official-format checkpoints load under torch >= 2.6 without trusting arbitrary pickles."""
import argparse
import os
import pickle
import re
import zipfile

import numpy as np
import pytest
import torch
from conftest import RTMDET_NANO_PERSON, RTMW3D_L

from signpose.install.checkpoints import PICKLED_MULTIARRAY, UntrustedCheckpointError, install_safe_checkpoint_loader, \
    load_checkpoint_file, trust
from tests.support.seeded_weights import save_openmmlab_checkpoint, seeded_state_dict

NUMPY_META = dict(
    classes=('person', ),
    palette=[(220, 20, 60)],
    sigmas=np.array([0.026, 0.025, 0.025], dtype=np.float32),  # arrays, as mmpose metas hold
    flip_indices=np.arange(3),
    num_keypoints=np.int64(3),  # numpy scalars
    mean_area=np.float64(1.5),
)


class Exploit:
    """A pickle that runs a command when loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def _build_detector():
    from mmdet.apis import init_detector
    return init_detector(RTMDET_NANO_PERSON, None, device='cpu')


def test_numpy_meta_is_refused_by_plain_torch_load(tmp_path):
    path = save_openmmlab_checkpoint({'w': torch.ones(2)}, tmp_path / 'c.pth', NUMPY_META)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)  # the problem being solved: weights_only=True by default


def test_detector_checkpoint_with_numpy_meta_loads_through_init_detector(tmp_path):
    from mmdet.apis import init_detector
    install_safe_checkpoint_loader()
    weights = seeded_state_dict(_build_detector(), salt=3)
    path = save_openmmlab_checkpoint(weights, tmp_path / 'det.pth', NUMPY_META)
    model = init_detector(RTMDET_NANO_PERSON, str(path), device='cpu')
    for name, value in model.state_dict().items():
        assert torch.equal(value, weights[name]), name
    assert model.dataset_meta['classes'] == ('person', )


def test_pose_checkpoint_with_numpy_meta_loads_through_init_model(tmp_path):
    from mmpose.apis import init_model
    model = init_model(RTMW3D_L, None, device='cpu')
    assert isinstance(model.dataset_meta['sigmas'], np.ndarray)  # the real meta holds numpy
    weights = seeded_state_dict(model, salt=4)
    path = save_openmmlab_checkpoint(weights, tmp_path / 'pose.pth', model.dataset_meta)
    install_safe_checkpoint_loader()
    loaded = init_model(RTMW3D_L, str(path), device='cpu')
    for name, value in loaded.state_dict().items():
        assert torch.equal(value, weights[name]), name
    assert loaded.dataset_meta['num_keypoints'] == 133
    np.testing.assert_array_equal(loaded.dataset_meta['sigmas'], model.dataset_meta['sigmas'])


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict={'w': torch.ones(1)}, meta=dict(payload=Exploit(marker))), path)
    with pytest.raises(UntrustedCheckpointError) as err:
        load_checkpoint_file(path)
    assert not marker.exists()
    message = str(err.value)
    assert str(path) in message and '--trust' in message and 'not in the trusted list' in message


def test_malicious_pickle_is_refused_through_init_detector(tmp_path):
    from mmdet.apis import init_detector
    install_safe_checkpoint_loader()
    marker = tmp_path / 'pwned'
    weights = seeded_state_dict(_build_detector())
    path = tmp_path / 'evil_det.pth'
    torch.save(dict(state_dict=weights, meta=dict(payload=Exploit(marker))), path)
    with pytest.raises(UntrustedCheckpointError):
        init_detector(RTMDET_NANO_PERSON, str(path), device='cpu')
    assert not marker.exists()


def test_trusting_a_file_by_its_sha256_allows_other_globals(tmp_path):
    path = tmp_path / 'old_style.pth'
    torch.save(dict(state_dict={'w': torch.ones(1)}, meta=dict(args=argparse.Namespace(lr=0.1))), path)
    with pytest.raises(UntrustedCheckpointError):
        load_checkpoint_file(path)
    trust(path)
    assert (tmp_path / 'TRUSTED_SHA256').read_text().split()[1] == path.name
    assert load_checkpoint_file(path)['meta']['args'].lr == 0.1
    # the trust is in the content, not the name: a changed file is refused again
    torch.save(dict(state_dict={'w': torch.zeros(1)}, meta=dict(args=argparse.Namespace(lr=0.2))), path)
    with pytest.raises(UntrustedCheckpointError):
        load_checkpoint_file(path)


def written_by(path, module: str, out):
    """A copy of checkpoint ``path`` whose pickle names numpy's functions under ``module``, as
    the numpy that keeps them there writes it (numpy.core: numpy 1, numpy._core: numpy 2)."""
    pattern = re.compile(rb'c(' + b'|'.join(re.escape(m.encode()) for m in PICKLED_MULTIARRAY) + rb')\n')
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, 'w', zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith('/data.pkl'):
                data, renamed = pattern.subn(b'c' + module.encode() + b'\n', data)
                assert renamed >= 2  # _reconstruct and scalar, pickled as protocol-2 GLOBALs
            target.writestr(info, data)
    return out


@pytest.mark.parametrize('module', PICKLED_MULTIARRAY)
def test_checkpoints_written_under_either_numpy_load_under_this_one(tmp_path, module):
    path = save_openmmlab_checkpoint({'w': torch.arange(3.0)}, tmp_path / 'c.pth', NUMPY_META)
    copy = written_by(path, module, tmp_path / 'other.pth')
    with zipfile.ZipFile(copy) as archive:
        pickled = archive.read(next(n for n in archive.namelist() if n.endswith('/data.pkl')))
    assert f'c{module}\n_reconstruct'.encode() in pickled
    meta = load_checkpoint_file(copy)['meta']['dataset_meta']
    np.testing.assert_array_equal(meta['sigmas'], NUMPY_META['sigmas'])
    assert meta['sigmas'].dtype == np.float32 and meta['num_keypoints'] == 3 and meta['mean_area'] == 1.5
    assert type(meta['num_keypoints']) is np.int64
    # only these two spellings are allowed: any other module name is refused
    with pytest.raises(UntrustedCheckpointError):
        load_checkpoint_file(written_by(path, 'numpy.elsewhere', tmp_path / 'elsewhere.pth'))
