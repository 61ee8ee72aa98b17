"""Stage 3b of the sign-language preprocessing pipeline: video segments -> 3D whole-body landmarks.

The data flows manifest -> tasks -> frames -> detection -> pose -> array -> file:

    config.py   configs/extract_mmpose.py (+ --cfg-options) -> one frozen, typed Settings; every check
    data/       manifest (caption rows), shards (Slurm arrays), tasks (segments grouped by video,
                what is done skipped), sampling (which frames), video (decoding once per video)
    nets/       the networks: loading (checkpoint checks), devices (device, threads, batch sizes),
                inference (detection and pose on batches), rtmw3d/ (RTMW3D for mmpose), precision,
                speedups (exact rewrites), runtimes (ONNX Runtime / OpenVINO), mmcv_lite + mmcv_ext
                (NMS in torch for mmcv-lite), download
    engine/     batched (one video through all of it), segments (the bookkeeping), landmarks
                (a pose -> the (85, 4) row), reference (the design's per-frame loop)
    output/     ledger (outcomes, atomic files), storage (full or unwritable folders)
    run/        stage (the command: checks, plan, executor, console), pool (worker processes, 1..n),
                events (video started/ended, worker replaced), ray_executor, progress
    qa/         validate and visualize the output
    benchmarks/ speed of the engine, decoding and start-up (figures: docs/performance.md)
"""

# mmcv-lite has no compiled ops: the stage's NMS stands in for mmcv._ext before anything imports
# mmcv.ops (the stage, pool workers and Ray actors all import this package first). A compiled mmcv
# is left alone. Nothing is imported here until mmcv.ops is.
from signpose.nets import mmcv_lite as _mmcv_lite  # noqa: E402

_mmcv_lite.install()
