"""Stage 3b of the sign-language preprocessing pipeline: video segments -> 3D whole-body landmarks.

The data flows manifest -> tasks -> frames -> detection -> pose -> array -> file:

    manifest.py    read the caption manifest, reject bad rows with reasons
    tasks.py       segments to do, grouped by video; skip what is done or unusable
    sampling.py    which frames of a segment are kept (24 fps reduction or frame skipping)
    video.py       read a video once for all of its segments
    models.py      load RTMDet and RTMW3D (checkpoint checks, device fallback)
    inference.py   detection and pose on batches of frames
    speedups.py    exact rewrites of parts of the networks that the engine switches on
    runtimes.py    the networks exported to ONNX Runtime or OpenVINO (BACKEND), with their cache
    landmarks.py   one frame's pose -> the (85, 4) row of the output contract
    engine.py      one video and its segments through all of the above
    output.py      atomic .npy writes and the ledger of outcomes
    runner.py      the stage: settings, checks, executor, console and summary
    pool.py, ray_executor.py, shards.py   more workers, a Ray cluster, Slurm array shards

Around it: settings.py (the config module and --cfg-options), checkpoints.py (safe loading),
download.py (model download), seeded_weights.py (stand-in weights for tests and benchmarks),
validate.py and visualize.py (checking the output), torchvision_shim.py (see README).
"""
