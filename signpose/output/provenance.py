"""The run record: what produced a folder of landmarks, one JSON file per run (and per shard).

``start_run`` writes ``NPY_DIR/runs/<run id>.json`` atomically before any work, ``RunRecord.finish``
completes it at the end (end time, counts, exit status). It holds:
- the settings in effect (the constants file with the ``--cfg-options`` overrides applied), as
  decided for the machine (device, threads, batches), the overrides as given, the SHA-256 of the
  effective settings and of those that decide the output (``DECIDING``: not paths, workers, shards);
- the code: the git commit of the checkout the package runs from and whether its tracked files
  differ from it (with a hash of that difference), else the package's version;
- the manifest's path, size and SHA-256 (the report says when it changed since);
- each checkpoint's file name, size and SHA-256 (cached by path, size and mtime: a rerun does
  not read 300 MB again), whether it is the official file its link names (OpenMMLab names files
  ``...-<first 8 hex of the SHA-256>[_date].pth``), each config's path and content hash, with the
  ``_base_`` files it inherits;
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
import re
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Union

from signpose.common.atomic import write_json_atomic
from signpose.config import load_settings
from signpose.nets.devices import Decided

RUNS_DIR = 'runs'  # in NPY_DIR
HASH_CACHE_NAME = '.sha256_cache.json'  # beside the checkpoints (else in NPY_DIR/runs)
RECORD_VERSION = 2  # 2: effective settings' hashes, overrides, code version, official checkpoints, manifest
# settings that do not change the landmarks written (paths, where and how fast the work runs); every
# other setting decides the output, and so do the checkpoints' and configs' hashes (recorded apart)
NOT_DECIDING = ('ROOT', 'VIDEO_DIR', 'NPY_DIR', 'CSV_FILE', 'MAX_WORKERS', 'CPU_THREADS', 'EXECUTOR',
                'RETRY_CRASHED', 'RAY_ADDRESS', 'NUM_SHARDS', 'SHARD_INDEX', 'DET_MODEL_CONFIG',
                'DET_MODEL_CHECKPOINT', 'DET_MODEL_CHECKPOINT_LINK', 'POSE_MODEL_CONFIG', 'POSE_MODEL_CHECKPOINT',
                'POSE_MODEL_CHECKPOINT_LINK', 'DET_BATCH_SIZE', 'POSE_BATCH_SIZE', 'DECODE_QUEUE', 'DECODE_QUEUE_MB',
                'HOST_THREADS', 'RUNTIME_CACHE', 'DEVICE')
# OpenMMLab's file names end in the first 8 hex digits of the file's SHA-256 (and a date)
LINK_HASH = re.compile(r'-([0-9a-f]{8,64})(?:_\d{8})?\.pth$')
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
            write_json_atomic(self.file, self.entries, end='\n')
        except OSError:
            pass  # a read-only folder: the hash is still right, only not remembered


def hash_cache_for(checkpoint, npy_dir) -> HashCache:
    """The cache beside the checkpoint (shared by every output folder) when that folder can be
    written, else in NPY_DIR/runs."""
    folder = Path(checkpoint).resolve().parent
    if os.access(folder, os.W_OK):
        return HashCache(folder / HASH_CACHE_NAME)
    return HashCache(runs_dir(npy_dir) / HASH_CACHE_NAME)


def link_sha256_prefix(link) -> Optional[str]:
    """The SHA-256 prefix an OpenMMLab download link's file name carries, or None."""
    found = LINK_HASH.search(str(link or '').split('?')[0])
    return found.group(1) if found else None


def is_official(sha256: Optional[str], link) -> Optional[bool]:
    """Whether a checkpoint is the file its link names (its SHA-256 starts with the link's prefix);
    None when that cannot be said (no file, or a link without a prefix)."""
    prefix = link_sha256_prefix(link)
    if not sha256 or not prefix:
        return None
    return sha256.startswith(prefix)


def checkpoint_entry(path, npy_dir, cache: Optional[HashCache] = None, link: Optional[str] = None) -> dict:
    """{path, file, size, sha256, link, link_sha256, official} of one checkpoint (sha256 None when
    the file is not there; official: ``is_official``)."""
    path = Path(path)
    entry = dict(path=str(path), file=path.name, size=None, sha256=None)
    if path.is_file():
        entry['size'] = path.stat().st_size
        entry['sha256'] = (cache or hash_cache_for(path, npy_dir)).sha256(path)
    if link is not None:
        entry.update(link=str(link), link_sha256=link_sha256_prefix(link), official=is_official(entry['sha256'], link))
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


def settings_dict(values) -> dict:
    """A dataclass (the Settings, a Decided), or a dict, as plain JSON values."""
    values = values if isinstance(values, dict) else dataclasses.asdict(values)
    return json.loads(json.dumps(values, default=str))


def json_sha256(value) -> str:
    """SHA-256 of a JSON value written canonically (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(',', ':'), default=str).encode()).hexdigest()


def deciding_settings(values: dict) -> dict:
    """The settings that decide the output (all but ``NOT_DECIDING``)."""
    return {k: v for k, v in values.items() if k not in NOT_DECIDING}


def cfg_options_of(argv: List[str]) -> Dict[str, str]:
    """``--cfg-options KEY=VALUE ...`` of a command line, as given (the words up to the next option)."""
    found, taking = {}, False
    for word in argv:
        if word.startswith('--'):
            taking = word == '--cfg-options'
            if '=' in word and word.split('=', 1)[0] == '--cfg-options':  # --cfg-options=KEY=VALUE
                key, _, value = word.split('=', 1)[1].partition('=')
                found[key] = value
            continue
        if taking and '=' in word:
            key, _, value = word.partition('=')
            found[key] = value
    return found


def overridden(values: dict, config_file) -> Optional[Dict[str, Any]]:
    """{setting: value} where the effective settings differ from the constants file's own (None:
    the file cannot be read again)."""
    if not config_file:
        return None
    try:
        defaults = settings_dict(load_settings(config_file))
    except Exception:  # the file changed or went since the run started: not the run's concern
        return None
    return {k: v for k, v in values.items() if defaults.get(k, object()) != v}


def code_version(package_dir: Optional[Path] = None) -> dict:
    """The code that ran: {version, path, commit, dirty, diff_sha256} (commit None without a git
    checkout, or without git). ``dirty``: tracked files differ from the commit; ``diff_sha256``
    tells two dirty trees apart."""
    package_dir = Path(package_dir or Path(__file__).resolve().parents[1])
    root = package_dir.parent
    entry: Dict[str, Any] = dict(version=package_version(), path=str(root), commit=None, dirty=None)

    def git(*args) -> Optional[str]:
        try:
            done = subprocess.run(['git', '-C', str(root), *args], capture_output=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.decode('utf-8', 'replace') if done.returncode == 0 else None

    if not (root / '.git').exists():
        return entry
    commit = git('rev-parse', 'HEAD')
    if not commit:
        return entry
    entry['commit'] = commit.strip()
    entry['branch'] = (git('rev-parse', '--abbrev-ref', 'HEAD') or '').strip() or None
    diff = git('diff', 'HEAD', '--no-ext-diff', '--binary')
    entry['dirty'] = None if diff is None else bool(diff.strip())
    if entry['dirty']:
        entry['diff_sha256'] = hashlib.sha256(diff.encode()).hexdigest()
    return entry


def package_version() -> Optional[str]:
    from importlib import metadata
    try:
        return metadata.version('signpose')
    except metadata.PackageNotFoundError:
        return None


def manifest_entry(path) -> dict:
    """{path, size, mtime_ns, sha256} of the manifest (None where it cannot be read)."""
    entry = dict(path=str(path), size=None, mtime_ns=None, sha256=None)
    try:
        stat = Path(path).stat()
        entry.update(size=stat.st_size, mtime_ns=stat.st_mtime_ns, sha256=sha256_file(path))
    except OSError:
        pass
    return entry


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
        write_json_atomic(self.path, record, end='\n')
        self.record = record


def iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat(timespec='milliseconds').replace('+00:00', 'Z')


def start_run(effective, decided: Decided, config_file=None, argv: Optional[List[str]] = None,
              now: Optional[float] = None) -> RunRecord:
    """Write the record of a run starting now (see the module docstring) and return it.

    ``effective``: the settings as they run, as a dict (``dataclasses.asdict`` of the Settings; a
    dataclass is turned into one); ``decided`` what ``nets.devices.resolve`` decides for a worker
    on this machine; ``config_file`` the constants module the settings came from.
    """
    values = settings_dict(effective)
    argv = list(sys.argv if argv is None else argv)
    now = time.time() if now is None else now
    npy_dir = values['NPY_DIR']
    record = dict(
        version=RECORD_VERSION, run=None, complete=False,
        start=iso(now), start_unix=now, end=None,
        host=socket.gethostname(), pid=os.getpid(), argv=argv,
        shard=dict(index=values.get('SHARD_INDEX'), count=values.get('NUM_SHARDS')),
        settings=values, decided=settings_dict(decided),
        settings_sha256=json_sha256(values), deciding_sha256=json_sha256(deciding_settings(values)),
        cfg_options=cfg_options_of(argv), overridden=overridden(values, config_file),
        code=code_version(),
        device=device_entry(decided.device, decided.precision, decided.backend),
        versions=versions(),
        checkpoints={kind: checkpoint_entry(values[f'{key}_MODEL_CHECKPOINT'], npy_dir,
                                            link=values.get(f'{key}_MODEL_CHECKPOINT_LINK'))
                     for kind, key in (('detector', 'DET'), ('pose', 'POSE'))},
        configs=dict(settings=config_entry(config_file) if config_file else None,
                     detector=config_entry(values['DET_MODEL_CONFIG']),
                     pose=config_entry(values['POSE_MODEL_CONFIG'])),
        manifest=manifest_entry(values['CSV_FILE']) if values.get('CSV_FILE') else None,
    )
    if values.get('HAND_MODEL_CONFIG'):  # the hand pass (docs/hands.md); a run without it: the record as it was
        record['checkpoints']['hand'] = checkpoint_entry(values['HAND_MODEL_CHECKPOINT'], npy_dir,
                                                         link=values.get('HAND_MODEL_CHECKPOINT_LINK'))
        record['configs']['hand'] = config_entry(values['HAND_MODEL_CONFIG'])
    folder = runs_dir(npy_dir)
    for attempt in range(100):  # the same millisecond, host and pid: only by a second start in one process
        run_id = new_run_id(now) + (f'-{attempt}' if attempt else '')
        record['run'] = run_id
        try:
            write_json_atomic(folder / f'{run_id}.json', record, exclusive=True, end='\n')
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
