"""Stage 3b of the sign-language preprocessing pipeline: video segments -> 3D whole-body landmarks.

The data flows manifest -> tasks -> frames -> detection -> pose -> rows -> files, through layers
that only import downwards (docs/architecture.md; tests/test_layers.py):

    contract/   the row of a frame (85, C), a segment's files and whether it is done, its Outcome,
                a finished segment's arrays; common/: atomic writes, timings
    config.py   configs/extract_mmpose.py (+ --cfg-options) -> one frozen, typed Settings
    data/       manifest (caption rows), shards (Slurm arrays), tasks (segments grouped by video,
                what is done skipped), sampling (which frames), video (decoding once per video),
                locate (a sentence's video, for the tools)
    nets/       devices (resolve -> what a worker runs with), loading, detector, pose, inference (both,
                composed), rtmw3d/ (RTMW3D for mmpose), precision, speedups (exact rewrites), runtimes
                (ONNX Runtime / OpenVINO), mmcv_lite + mmcv_ext (NMS for mmcv-lite), download
    engine/     video (one video through both networks, as named steps), segments (the bookkeeping)
    output/     writer (a finished segment -> files), files, pose_file, ledger, storage (full or
                unwritable folders), convert
    run/        stage (the command), checks, work (engine + writer per video), pool (worker processes,
                1..n), events, ray_executor, progress
    qa/         validate and visualize the output
    benchmarks/ speed of the engine, decoding and start-up; the seeded weights and the per-frame
                reference loop, for tests and benchmarks only
"""

# mmcv-lite has no compiled ops: the stage's NMS stands in for mmcv._ext before anything imports
# mmcv.ops (the stage, pool workers and Ray actors all import this package first). A compiled mmcv
# is left alone. Nothing is imported here until mmcv.ops is.
from signpose.nets import mmcv_lite as _mmcv_lite  # noqa: E402

_mmcv_lite.install()
