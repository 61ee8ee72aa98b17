"""ONNX Runtime and OpenVINO backends: the same networks, run by another runtime (BACKEND).

With BACKEND = 'onnxruntime' or 'openvino' the engine runs the two networks (backbone, neck and
head, up to the head's raw outputs) in that runtime. Everything around them stays the
project's, as ``test_step`` does it: the models' test pipelines and data preprocessors
(normalising, padding), mmdet's ``predict_by_feat`` for the boxes (with the engine's raised
``score_thr``, NMS, max_per_img), the pose head's decoding (the RTMW3D codec) and the
estimators' ``add_pred_to_datasample``. BBOX_THR, the person logic and the rows are unchanged.

Export: ``torch.onnx.export`` (opset 17, a dynamic batch axis) of the loaded models as shipped
(the rewrites of speedups.py are switched on only inside the PyTorch engine's calls), when the
engine is built, into RUNTIME_CACHE. A file's name holds a key of all the graph depends on: the
model's config dict, its weights (SHA-256 of the state dict as loaded: weights changed in memory,
as the benchmark's calibration does, never meet a stale file), the input shape, torch's version
and the opset. Runtime options (threads, optimisation) apply when a file is loaded, so both
runtimes share one file. Each file is written atomically, then a JSON record with its SHA-256;
a file that does not match its record, or that the runtime cannot load, is exported again,
with one warning saying so. A lock file keeps workers sharing the cache from exporting at once.

CPU only: ONNX Runtime's CUDA execution provider is the next step on a GPU, not built yet.
"""
import contextlib
import fcntl
import hashlib
import importlib
import io
import json
import time
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from signpose.common.atomic import atomic_file
from signpose.config import Compute
from signpose.install.checkpoints import sha256_of
from signpose.common.errors import SetupError

OPSET = 17
EXPORT_FORMAT = 1  # bump when the export changes (wrapper, names): older cache files are then not used
# pinned with the rest of the stack (setup.sh installs them with WITH_RUNTIMES=1); numpy is named so
# that pip keeps the numpy installed (the runtimes would otherwise move it to their newest)
REQUIREMENTS = {'onnxruntime': 'onnxruntime==1.31.1', 'openvino': 'openvino==2026.4.1'}
EXPORTER = 'onnx==1.23.2'  # torch.onnx.export writes through it
NUMPY = f'numpy=={np.__version__}'


def backend_problem(compute: Compute) -> Optional[str]:
    """Why BACKEND cannot run here (one line naming the fix), or None."""
    backend = compute.backend
    if backend == 'pytorch':
        return None
    if backend not in REQUIREMENTS:
        return f"BACKEND must be 'pytorch', 'onnxruntime' or 'openvino', not {backend!r}"
    for requirement in (REQUIREMENTS[backend], EXPORTER):
        module = requirement.split('==')[0]
        try:
            importlib.import_module(module)
        except Exception as err:  # ImportError, or a broken binary extension
            return (f'BACKEND={backend!r} needs the package {module} (cannot import it: {err}) -> install it with: '
                    f'WITH_RUNTIMES=1 bash setup.sh (or: pip install {REQUIREMENTS[backend]} {EXPORTER} {NUMPY})')
    if compute.precision != 'fp32':
        return f'BACKEND={backend!r} runs fp32 only: use PRECISION=fp32 (or BACKEND=pytorch for {compute.precision})'
    if compute.first_device.startswith('cuda') and torch.cuda.is_available():
        return (f"BACKEND={backend!r} runs on the CPU (ONNX Runtime's CUDA provider is not built yet): "
                f"set DEVICE=cpu, or BACKEND=pytorch on the GPU")
    return None


# ---------------------------------------------------------------- export

def flatten(outputs):
    """The tensors of a head's output (a tensor, or tuples/lists of them) and its structure."""
    if isinstance(outputs, torch.Tensor):
        return [outputs], None
    tensors, spec = [], []
    for item in outputs:
        inner, inner_spec = flatten(item)
        tensors += inner
        spec.append(inner_spec)
    return tensors, spec


def unflatten(tensors, spec):
    """The inverse of ``flatten``: tuples in place of lists (mmpose's decode wants tuples)."""
    tensors = iter(tensors)

    def build(node):
        return next(tensors) if node is None else tuple(build(child) for child in node)
    return build(spec)


class ExportedNetwork(torch.nn.Module):
    """What the runtime runs: ``extract_feat`` then the head's forward, outputs flattened."""

    def __init__(self, model, head):
        super().__init__()
        self.model, self.head = model, head
        self.spec = None

    def forward(self, inputs):
        tensors, self.spec = flatten(self.head(self.model.extract_feat(inputs)))
        return tuple(tensors)


def weights_digest(model) -> str:
    """SHA-256 of a model's state dict (names, dtypes, shapes, values) as it is in memory."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(f'{name} {tensor.dtype} {tuple(tensor.shape)};'.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def cache_key(model, shape) -> str:
    """What the exported graph depends on: the model's config dict, its weights, the input shape,
    the exporter (torch's version, the opset) and this module's way of exporting."""
    config = json.dumps(model.cfg.model.to_dict(), sort_keys=True, default=str)
    parts = [config, weights_digest(model), str(tuple(shape)), torch.__version__, str(OPSET), str(EXPORT_FORMAT)]
    return hashlib.sha256('\n'.join(parts).encode()).hexdigest()


def export_onnx(model, head, shape, path: Path) -> dict:
    """Export the network for inputs (N, *shape) to ``path`` atomically; returns its record."""
    network = ExportedNetwork(model, head).eval()
    # a batch of two, so that no size the tracer sees as 1 can pass for a constant
    example = torch.randn((2, *shape), generator=torch.Generator().manual_seed(0))
    buffer = io.BytesIO()
    start = time.perf_counter()
    # the engine's calls run in inference mode, which tracing cannot record
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the tracer's notes on Python values it treats as constants
        names = [f'out{i}' for i in range(len(network(example)))]  # the call records the structure
        torch.onnx.export(network, (example, ), buffer, opset_version=OPSET, dynamo=False,
                          input_names=['inputs'], output_names=names,
                          dynamic_axes={name: {0: 'batch'} for name in ['inputs'] + names})
    data = buffer.getvalue()
    with atomic_file(path) as f:
        f.write(data)
    record = dict(sha256=hashlib.sha256(data).hexdigest(), outputs=network.spec, input_shape=list(shape),
                  torch=torch.__version__, opset=OPSET, export_seconds=round(time.perf_counter() - start, 1))
    with atomic_file(record_path(path)) as f:  # written last: a file without its record is incomplete
        f.write(json.dumps(record, indent=1).encode())
    return record


def record_path(path: Path) -> Path:
    return path.with_suffix('.json')


def damage(path: Path) -> Optional[str]:
    """What is wrong with a cached file and its record ('' if it is missing), or None if sound."""
    if not path.is_file():
        return ''
    try:
        record = json.loads(record_path(path).read_text())
        expected = record['sha256']
    except (OSError, ValueError, KeyError, TypeError):
        return 'has no readable record'
    if sha256_of(path) != expected:
        return 'does not match its record (truncated or changed)'
    return None


@contextlib.contextmanager
def locked(path: Path):
    with open(path, 'a') as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ---------------------------------------------------------------- runtimes

class OnnxRuntimeSession:
    """An ONNX Runtime CPU session, all graph optimisations, the worker's threads."""

    def __init__(self, path: Path, threads: int):
        import onnxruntime as ort
        options = ort.SessionOptions()
        # ALL adds the layout (NCHWc) and fusion passes: 1.3-1.5x faster than BASIC or EXTENDED here
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # threads that spin after a call take the cores from the torch pre- and post-processing and
        # the decoder that run between calls: the engine was 11% faster without spinning here
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
        self.session = ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])
        self.version = ort.__version__

    def __call__(self, inputs: np.ndarray) -> list:
        return self.session.run(None, {'inputs': inputs})


class OpenVinoSession:
    """An OpenVINO CPU model compiled in f32: its default on CPUs with AMX or AVX512-BF16 is bf16,
    3-4x faster there but 0.2 off in RTMW3D's logits. One model for every batch size (dynamic
    batch axis): compiling one per static shape was no faster here."""

    def __init__(self, path: Path, threads: int):
        import openvino as ov
        core = ov.Core()
        model = core.read_model(str(path))
        self.compiled = core.compile_model(model, 'CPU', {
            'INFERENCE_PRECISION_HINT': 'f32', 'INFERENCE_NUM_THREADS': threads, 'PERFORMANCE_HINT': 'LATENCY'})
        self.request = self.compiled.create_infer_request()
        self.outputs = list(self.compiled.outputs)
        self.version = ov.get_version().split('-')[0]

    def __call__(self, inputs: np.ndarray) -> list:
        result = self.request.infer({0: inputs})  # outputs copied out of the request's buffers
        return [result[output] for output in self.outputs]


SESSIONS = {'onnxruntime': OnnxRuntimeSession, 'openvino': OpenVinoSession}


class RuntimeNetwork:
    """A model's network in a runtime, exported (or found in the cache) once per input shape."""

    def __init__(self, model, head, label: str, backend: str, cache, threads: int, log=print):
        self.model, self.head, self.label, self.log = model, head, label, log
        self.backend = backend
        self.cache = Path(cache)  # RUNTIME_CACHE
        self.threads = threads
        self.sessions = {}  # input shape (C, H, W) -> (session, output structure)

    def file_for(self, shape) -> Path:
        stem = Path(getattr(self.model.cfg, 'filename', None) or self.label).stem
        return self.cache / f'{stem}-{cache_key(self.model, shape)[:16]}.onnx'

    def prepare(self, shape):
        self.cache.mkdir(parents=True, exist_ok=True)
        path = self.file_for(shape)
        with locked(path.with_suffix('.lock')):
            problem = damage(path)
            if problem:
                warnings.warn(f'runtime cache: {path} {problem}: exporting it again', stacklevel=2)
            if problem is not None:
                record = export_onnx(self.model, self.head, shape, path)
                how = f'exported in {record["export_seconds"]} s'
            else:
                record, how = json.loads(record_path(path).read_text()), 'from the cache'
            try:
                session = SESSIONS[self.backend](path, self.threads)
            except Exception as err:  # a file the runtime cannot read: export it once more
                warnings.warn(f'runtime cache: {self.backend} cannot load {path} '
                              f'({type(err).__name__}: {str(err)[:200]}): exporting it again', stacklevel=2)
                record = export_onnx(self.model, self.head, shape, path)
                session, how = SESSIONS[self.backend](path, self.threads), f'exported in {record["export_seconds"]} s'
        self.log(f'{self.label} network in {self.backend} {session.version} ({self.threads} threads), '
                 f'input (N, {", ".join(map(str, shape))}), {how}: {path.name}')
        self.sessions[tuple(shape)] = session, record['outputs']
        return self.sessions[tuple(shape)]

    def run(self, inputs: torch.Tensor):
        """The head's raw outputs for a batch of preprocessed inputs, as torch tensors."""
        shape = tuple(inputs.shape[1:])
        session, spec = self.sessions.get(shape) or self.prepare(shape)
        arrays = session(np.ascontiguousarray(inputs.detach().cpu().numpy(), dtype=np.float32))
        return unflatten([torch.from_numpy(a) for a in arrays], spec)


class RuntimeDetector:
    """``test_step`` of a single-stage mmdet detector with its network in a runtime."""

    def __init__(self, detector, backend: str, cache, threads: int, log=print):
        from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
        from mmdet.models.detectors import SingleStageDetector
        head = getattr(detector, 'bbox_head', None)
        if not (isinstance(detector, SingleStageDetector) and type(detector).predict is SingleStageDetector.predict
                and isinstance(head, BaseDenseHead) and type(head).predict is BaseDenseHead.predict):
            raise SetupError(f'BACKEND={backend!r} runs single-stage detectors whose prediction is '
                             f'features -> head -> predict_by_feat (as RTMDet), not {type(detector).__name__}: '
                             f'use BACKEND=pytorch')
        self.model = detector
        self.network = RuntimeNetwork(detector, head, 'detector', backend, cache, threads, log)

    def test_step(self, batch):
        detector = self.model
        data = detector.data_preprocessor(batch, False)  # normalises, pads, records the batch shape
        samples = data['data_samples']
        outputs = self.network.run(data['inputs'])
        # as the head's predict after its forward: the (possibly raised) test_cfg applies
        results = detector.bbox_head.predict_by_feat(*outputs, batch_img_metas=[s.metainfo for s in samples],
                                                     rescale=True)
        return detector.add_pred_to_datasample(samples, results)


class RuntimePoseEstimator:
    """``test_step`` of an mmpose top-down estimator with its network in a runtime."""

    def __init__(self, pose, backend: str, cache, threads: int, log=print, label: str = 'pose'):
        test_cfg = pose.test_cfg or {}
        if test_cfg.get('flip_test', False) or test_cfg.get('output_heatmaps', False):
            raise SetupError(f'BACKEND={backend!r}: flip_test and output_heatmaps are not supported '
                             f'(set them off in the {label} config, or use BACKEND=pytorch)')
        self.model = pose
        self.network = RuntimeNetwork(pose, pose.head, label, backend, cache, threads, log)

    def test_step(self, batch):
        pose = self.model
        data = pose.data_preprocessor(batch, False)
        # as the estimator's predict: the head's decoding (the codec), then the estimator's mapping
        predictions = pose.head.decode(self.network.run(data['inputs']))
        return pose.add_pred_to_datasample(predictions, None, data['data_samples'])
