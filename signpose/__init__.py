"""signpose: 3D whole-body landmarks (RTMDet + RTMW3D) from sign-language video, as a library and as
stage 3b of a preprocessing pipeline.

    import signpose
    extractor = signpose.Extractor(device='cpu')
    landmarks = extractor.segment('video.mp4', 12.0, 15.5)  # (T, 85, 4) float32

The data flows manifest -> tasks -> frames -> detection -> pose -> rows -> files, through layers
that only import downwards (docs/architecture.md; tests/test_layers.py):

    contract/      the row of a frame (85, C), a segment's files, its Outcome, a finished segment's arrays
    common/        atomic writes, timings, SetupError
    install/       what makes the stack whole: mmcv-lite's NMS (mmcv_lite, mmcv_ext), safe checkpoint
                   loading, downloads
    config.py      configs/extract_mmpose.py -> Settings -> the options of each layer (Options)
    data/          manifest, shards, tasks (per video), sampling, video (decoding once), locate
    speed/         precision, exact speed-ups, the ONNX Runtime / OpenVINO backends
    nets/          devices (what a worker runs with), loading, detector, pose, inference, rtmw3d/
    engine/        one video through both networks (video), the bookkeeping (segments), MULTI_PERSON
    output/        writer, files, pose_file, ledger, persons, storage, provenance, convert
    api.py         Extractor: the library, and the one way a worker is built
    run/           stage (the command's run), checks, work, pool, ray_executor, events, progress
    qa/            validate, visualize, report
    trajectories/  smoothing and gap filling after the stage, on the files
    cli/           the console commands
"""
# mmcv-lite has no compiled ops: the project's NMS stands in for mmcv._ext before anything imports
# mmcv.ops (setup.sh's start-up hook imports this package the first time anything asks for
# mmcv._ext, so mmdet and mmpose import alone too). A compiled mmcv is left alone. Nothing heavy is
# imported here: the API below is loaded on first use.
from signpose.install import mmcv_lite as _mmcv_lite

_mmcv_lite.install()

_API = ('Extractor', 'Person', 'SegmentResult', 'SegmentSkipped', 'SettingsError', 'SetupError', 'VideoError')
__all__ = list(_API) + ['smooth_folder']


def __getattr__(name):
    if name in _API:
        from signpose import api  # loaded on first use: `import signpose` stays cheap
        return getattr(api, name)
    if name == 'smooth_folder':
        from signpose.trajectories import smooth_folder  # loaded on first use
        return smooth_folder
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
