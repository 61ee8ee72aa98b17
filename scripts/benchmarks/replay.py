"""The host side of the engine, measured without the networks' forward passes.

On a GPU the networks take a few milliseconds per frame, so what decides the speed is the work
around them: decoding, the test pipelines, the data preprocessors, box decoding and NMS, SimCC
decoding, rows and writes. To measure that on any machine, ``NetworkRecorder`` records the
networks' raw outputs (the detector head's scores and boxes, the pose head's logits) per frame
and per crop during a real run, and ``replay_networks`` replaces the device's work by those
outputs, cycled: the forward passes (feature extraction and head), and the arithmetic of the
data preprocessors, which on a GPU normalise the images after their copy to the device (they
run on 'meta' tensors: shapes and metadata only). Everything else runs for real on the CPU.
"""
import itertools
from typing import List

import torch

from signpose.api import Extractor
from signpose.config import Options, Settings
from signpose.data.manifest import Segment
from signpose.data.tasks import VideoTask
from signpose.data.video import probe
from signpose.nets.devices import resolve
from signpose.nets.inference import build_networks
from signpose.nets.loading import LoadedModels, load_detector, load_pose_model, quiet_library_warnings
from signpose.run.work import process_video


def _split(outputs, count: int) -> List:
    """Per-sample slices of a head's output (tensors, possibly nested in tuples)."""
    if isinstance(outputs, torch.Tensor):
        return [outputs[i:i + 1].clone() for i in range(count)]
    parts = [_split(o, count) for o in outputs]
    return [type(outputs)(p[i] for p in parts) for i in range(count)]


def _join(samples: List):
    """The inverse of ``_split``: one batch from per-sample outputs."""
    first = samples[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(samples)
    return type(first)(_join([s[i] for s in samples]) for i in range(len(first)))


def _batch_size(outputs) -> int:
    return outputs.shape[0] if isinstance(outputs, torch.Tensor) else _batch_size(outputs[0])


class NetworkRecorder:
    """Records each sample's head outputs of the detector and the pose model (forward hooks)."""

    def __init__(self, models):
        self.detector, self.pose = [], []
        self.handles = [models.detector.bbox_head.register_forward_hook(self._hook(self.detector)),
                        models.pose.head.register_forward_hook(self._hook(self.pose))]

    @staticmethod
    def _hook(store):
        def hook(module, args, outputs):
            store.extend(_split(outputs, _batch_size(outputs)))
        return hook

    def close(self):
        for handle in self.handles:
            handle.remove()


def replay_networks(models, detector_outputs: List, pose_outputs: List) -> None:
    """Replace both networks' forward passes by recorded per-sample outputs, cycled.

    The data preprocessors send the inputs to the 'meta' device (their metadata work runs, their
    arithmetic is shapes only), feature extraction returns only the batch size, which the head's
    replaced forward turns into that many recorded samples; the rest of ``test_step`` runs as
    shipped (box decoding and NMS, SimCC decoding, on the CPU). The engine's
    exact rewrites (speedups.py) also replace the detector head's forward: build the inference
    with ``speedups=False``.
    """
    for model, head, recorded in ((models.detector, models.detector.bbox_head, detector_outputs),
                                  (models.pose, models.pose.head, pose_outputs)):
        samples = itertools.cycle(recorded)
        model.data_preprocessor.to('meta')
        model.data_preprocessor._device = torch.device('meta')
        model.extract_feat = lambda inputs: inputs.shape[0]
        head.forward = lambda count, samples=samples: _join([next(samples) for _ in range(count)])


def _replay_worker(job: dict) -> dict:
    """One worker process: both models on the CPU, their forward passes replayed, the engine
    over the whole video; returns its frames, its start and end time, and its arrays."""
    import time
    from pathlib import Path

    import numpy as np

    quiet_library_warnings()
    torch.set_num_threads(1)  # one core per worker: the rest is the other workers'
    models = LoadedModels(load_detector(job['det_cfg'], job['det_ckpt']),
                          load_pose_model(job['pose_cfg'], job['pose_ckpt']), 'cpu')
    recorded = torch.load(job['outputs'], weights_only=True)
    replay_networks(models, recorded['detector'], recorded['pose'])
    options = Options.of(Settings(**dict(job['settings'], HOST_THREADS=True)))  # as on a GPU
    Path(options.output.folder).mkdir(parents=True, exist_ok=True)
    decided = resolve(options.compute, 'cpu')
    # the models changed in memory (replayed): the engine around networks built here
    extractor = Extractor.around(build_networks(models, options.models, decided, options.compute.runtime_cache,
                                                speedups=False), options, decided)
    info = probe(job['video'])
    task = VideoTask('host', info, [Segment('host', 'segment', 0.0, job['seconds'])])
    job['ready'].wait()
    start = time.time()
    outcomes = list(process_video(task, extractor, options.output))
    end = time.time()
    arrays = [np.load(o.path) for o in outcomes if o.path]
    return dict(frames=sum(o.frames for o in outcomes), start=start, end=end, arrays=arrays)


def host_side_rate(job: dict, workers: int) -> dict:
    """Frames per second of ``workers`` processes replaying the networks on the same video at
    once (the host side of a machine feeding one GPU with that many workers)."""
    import multiprocessing
    context = multiprocessing.get_context('spawn')
    with context.Manager() as manager:
        ready = manager.Barrier(workers)  # the workers start together, models loaded
        jobs = [dict(job, ready=ready, settings=dict(job['settings'], NPY_DIR=f"{job['settings']['NPY_DIR']}/w{i}"))
                for i in range(workers)]
        with context.Pool(workers) as pool:
            results = pool.map(_replay_worker, jobs)
    frames = sum(r['frames'] for r in results)
    wall = max(r['end'] for r in results) - min(r['start'] for r in results)
    return dict(frames=frames, wall=wall, fps=frames / wall, arrays=[r['arrays'] for r in results])
