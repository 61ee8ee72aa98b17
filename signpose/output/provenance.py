"""The run record: what produced a folder of landmarks, one JSON file per run (and per shard).

``start_run`` writes ``NPY_DIR/runs/<run id>.json`` atomically before any work, ``RunRecord.finish``
completes it at the end (end time, counts, exit status). It holds:
- the settings in effect, as configured and as decided for the machine (device, threads, batches);
- each checkpoint's file name, size and SHA-256 (cached by path, size and mtime: a rerun does
  not read 300 MB again), each config's path and content hash, with the ``_base_`` files it inherits;
- the versions of Python, torch (and its CUDA), mmcv, mmengine, mmdet, mmpose, numpy, OpenCV,
  PyAV and this project; the device (GPU name), precision and backend; host, pid, shard.
A run id is the UTC start time, the host and the pid (``20261202T123456.789Z-host-1234``): runs and
shards never share one, and a record is created with an exclusive link, never over an earlier one.
Every ledger line of the run carries its id (``Outcome.run``), so an outcome names its record.
"""
import ast
import dataclasses
import hashlib
import json
import os
import platform
import socket
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

from signpose.common.atomic import atomic_file
from signpose.config import Settings
from signpose.nets.devices import Decided, resolve

RUNS_DIR = 'runs'  # in NPY_DIR
HASH_CACHE_NAME = '.sha256_cache.json'  # beside the checkpoints (else in NPY_DIR/runs)
RECORD_VERSION = 1
# distributions whose versions say what computed the landmarks; absent ones are recorded as None
PACKAGES = ('torch', 'mmcv', 'mmcv-lite', 'mmengine', 'mmdet', 'mmpose', 'numpy', 'opencv-python',
            'opencv-python-headless', 'av', 'onnxruntime', 'openvino', 'pose-format', 'signpose')


def new_run_id(now: Optional[float] = None, host: Optional[str] = None, pid: Optional[int] = None) -> str:
    """UTC start time (ms), host and pid: unique across the shards of a cluster and reruns."""
    stamp = datetime.fromtimestamp(time.time() if now is None else now, timezone.utc)
    host = ''.join(c if c.isalnum() or c in '-.' else '-' for c in (host or socket.gethostname()))[:64]
    return f'{stamp:%Y%m%dT%H%M%S}.{stamp.microsecond // 1000:03d}Z-{host}-{os.getpid() if pid is None else pid}'


def runs_dir(npy_dir) -> Path:
    return Path(npy_dir) / RUNS_DIR


def sha256_file(path, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(block), b''):
            digest.update(chunk)
    return digest.hexdigest()


class HashCache:
    """SHA-256 of files, remembered in a small JSON file keyed by absolute path, size and mtime
    (ns): a file changed in place gets a new size or mtime and is hashed again. A cache that
    cannot be read starts empty; one that cannot be written is only not kept."""

    def __init__(self, file, hasher: Optional[Callable[[str], str]] = None):
        self.file, self.hasher = Path(file), hasher
        try:
            self.entries = json.loads(self.file.read_text())
            if not isinstance(self.entries, dict):
                self.entries = {}
        except (OSError, ValueError):
            self.entries = {}

    def sha256(self, path) -> str:
        path = Path(path).resolve()
        stat = path.stat()
        key = str(path)
        entry = self.entries.get(key)
        if isinstance(entry, dict) and entry.get('size') == stat.st_size and entry.get('mtime_ns') == stat.st_mtime_ns:
            return entry['sha256']
        digest = (self.hasher or sha256_file)(str(path))
        self.entries[key] = dict(size=stat.st_size, mtime_ns=stat.st_mtime_ns, sha256=digest)
        self._save()
        return digest

    def _save(self) -> None:
        try:
            write_json_atomic(self.file, self.entries)
        except OSError:
            pass  # a read-only folder: the hash is still right, only not remembered


def hash_cache_for(checkpoint, npy_dir) -> HashCache:
    """The cache beside the checkpoint (shared by every output folder) when that folder can be
    written, else in NPY_DIR/runs."""
    folder = Path(checkpoint).resolve().parent
    if os.access(folder, os.W_OK):
        return HashCache(folder / HASH_CACHE_NAME)
    return HashCache(runs_dir(npy_dir) / HASH_CACHE_NAME)


def checkpoint_entry(path, npy_dir, cache: Optional[HashCache] = None) -> dict:
    """{path, file, size, sha256} of one checkpoint (sha256 None when the file is not there)."""
    path = Path(path)
    entry = dict(path=str(path), file=path.name, size=None, sha256=None)
    if path.is_file():
        entry['size'] = path.stat().st_size
        entry['sha256'] = (cache or hash_cache_for(path, npy_dir)).sha256(path)
    return entry


def config_bases(path: Path) -> List[Path]:
    """The files an mmengine config names in ``_base_`` (relative to its folder), if any."""
    try:
        tree = ast.parse(path.read_text(encoding='utf-8'))
    except (OSError, SyntaxError, ValueError):
        return []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '_base_' for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return []
            names = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else []
            return [(path.parent / name).resolve() for name in names if isinstance(name, str)]
    return []


def config_entry(path) -> dict:
    """{path, sha256} of a config file's bytes, and the same for every ``_base_`` it inherits
    (an inherited file changes the model as much as the file itself)."""
    path = Path(path)
    entry = dict(path=str(path), sha256=sha256_file(path) if path.is_file() else None)
    bases, seen, todo = [], {path.resolve()}, config_bases(path) if path.is_file() else []
    while todo:
        base = todo.pop(0)
        if base in seen:
            continue
        seen.add(base)
        bases.append(dict(path=str(base), sha256=sha256_file(base) if base.is_file() else None))
        if base.is_file():
            todo.extend(config_bases(base))
    if bases:
        entry['bases'] = bases
    return entry


def versions() -> Dict[str, Optional[str]]:
    """Python, the installed distributions of PACKAGES, torch's CUDA and cuDNN, OpenCV and PyAV
    as imported (a build can differ from its distribution's metadata)."""
    from importlib import metadata
    found: Dict[str, Optional[str]] = {'python': platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    try:
        import torch
        found['torch'] = torch.__version__
        found['torch.cuda'] = torch.version.cuda
        found['cudnn'] = str(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available() else None
    except ImportError:
        pass
    try:
        import cv2
        found['cv2'] = cv2.__version__
    except ImportError:
        found['cv2'] = None
    if found.get('av'):
        try:
            import av
            found['av'] = av.__version__
        except ImportError:
            pass
    return {k: v for k, v in found.items() if v is not None or k in ('torch.cuda', 'av')}


def device_entry(device: str, precision: str, backend: str) -> dict:
    """The device the networks ran on, by name (the GPU's, or the CPU's model), and how."""
    name = None
    if str(device).startswith('cuda'):
        try:
            import torch
            name = torch.cuda.get_device_name(torch.device(device))
        except Exception as err:  # no CUDA after all: the record says so rather than failing the run
            name = f'unknown ({type(err).__name__})'
    else:
        name = cpu_name()
    return dict(device=str(device), name=name, precision=precision, backend=backend)


def cpu_name() -> str:
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def settings_dict(settings) -> dict:
    """A Settings (or any dataclass) as plain JSON values."""
    return json.loads(json.dumps(dataclasses.asdict(settings), default=str))


def write_json_atomic(path, value, exclusive: bool = False) -> None:
    """Write JSON to a temporary file, fsync, then rename it over ``path`` (or, ``exclusive``,
    link it to ``path``, which fails with FileExistsError when ``path`` exists: never overwritten)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(value, ensure_ascii=False, separators=(',', ':')) + '\n').encode('utf-8')
    with atomic_file(path, suffix='.tmp', exclusive=exclusive) as f:
        f.write(data)


class RunRecord:
    """One run's record file: ``finish`` completes what ``start_run`` wrote."""

    def __init__(self, path: Path, record: dict):
        self.path, self.record = Path(path), record

    @property
    def run_id(self) -> str:
        return self.record['run']

    def finish(self, counts: dict, exit_status: Optional[int] = None, end: Optional[float] = None) -> None:
        """End time, duration, the run's counts (segments, frames, frames/s, skip reasons) and
        its exit status, written atomically over the record of the start."""
        end = time.time() if end is None else end
        record = dict(self.record, end=iso(end), end_unix=end, seconds=round(end - self.record['start_unix'], 3),
                      counts=counts, exit_status=exit_status, complete=True)
        frames = counts.get('frames') if isinstance(counts, dict) else None
        if frames and end > self.record['start_unix']:
            record['frames_per_second'] = round(frames / (end - self.record['start_unix']), 3)
        write_json_atomic(self.path, record)
        self.record = record


def iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat(timespec='milliseconds').replace('+00:00', 'Z')


def start_run(settings: Settings, decided: Optional[Decided] = None, config_file=None, argv: Optional[List[str]] = None,
              now: Optional[float] = None) -> RunRecord:
    """Write the record of a run starting now (see the module docstring) and return it.

    ``settings`` as configured, ``decided`` what ``nets.devices.resolve`` decides for a worker on
    this machine (None: decided now); ``config_file`` the constants module the settings came from.
    """
    decided = decided or resolve(settings, warn=False)
    now = time.time() if now is None else now
    npy_dir = settings.NPY_DIR
    record = dict(
        version=RECORD_VERSION, run=None, complete=False,
        start=iso(now), start_unix=now, end=None,
        host=socket.gethostname(), pid=os.getpid(), argv=list(sys.argv if argv is None else argv),
        shard=dict(index=settings.SHARD_INDEX, count=settings.NUM_SHARDS),
        settings=settings_dict(settings), decided=settings_dict(decided),
        device=device_entry(decided.device, decided.precision, decided.backend),
        versions=versions(),
        checkpoints={kind: checkpoint_entry(getattr(settings, f'{key}_MODEL_CHECKPOINT'), npy_dir)
                     for kind, key in (('detector', 'DET'), ('pose', 'POSE'))},
        configs=dict(settings=config_entry(config_file) if config_file else None,
                     detector=config_entry(settings.DET_MODEL_CONFIG),
                     pose=config_entry(settings.POSE_MODEL_CONFIG)),
    )
    if settings.HAND_MODEL_CONFIG:  # the hand pass (docs/hands.md); a run without it: the record as it was
        record['checkpoints']['hand'] = checkpoint_entry(settings.HAND_MODEL_CHECKPOINT, npy_dir)
        record['configs']['hand'] = config_entry(settings.HAND_MODEL_CONFIG)
    folder = runs_dir(npy_dir)
    for attempt in range(100):  # the same millisecond, host and pid: only by a second start in one process
        run_id = new_run_id(now) + (f'-{attempt}' if attempt else '')
        record['run'] = run_id
        try:
            write_json_atomic(folder / f'{run_id}.json', record, exclusive=True)
            return RunRecord(folder / f'{run_id}.json', record)
        except FileExistsError:
            continue
    raise FileExistsError(f'no free run id in {folder}')


def read_run_records(npy_dir) -> Iterator[dict]:
    """The run records of NPY_DIR, oldest first; an unreadable one is yielded as {'run': name, 'error': ...}."""
    folder = runs_dir(npy_dir)
    if not folder.is_dir():
        return
    for path in sorted(folder.glob('*.json')):
        if path.name.startswith('.'):
            continue
        try:
            record = json.loads(path.read_text(encoding='utf-8'))
            if not isinstance(record, dict):
                raise ValueError('not a JSON object')
        except (OSError, ValueError) as err:
            yield dict(run=path.stem, error=f'{type(err).__name__}: {err}'[:200])
            continue
        yield record
