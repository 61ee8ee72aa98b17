"""Downloading the checkpoints the config names: progress bar, SHA-256 check, atomic write."""
import fcntl
import hashlib
import http.client
import os
import re
import sys
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Optional

from tqdm import tqdm

from signpose.common.atomic import atomic_file
from signpose.install.checkpoints import trust


class DownloadError(RuntimeError):
    pass


def sha256_prefix_of_url(url: str) -> Optional[str]:
    """OpenMMLab names files ...-<first 8 hex of SHA-256>[_<date>].pth."""
    match = re.search(r'-([0-9a-f]{8})(?:_\d{8})?\.pth$', url)
    return match.group(1) if match else None


class _Failed(Exception):
    """Why a download failed, as a short phrase: :func:`ensure_checkpoint` makes it a DownloadError."""


def ensure_checkpoint(path, url, log: Optional[Callable[[str], None]] = print, setting: Optional[str] = None,
                      timeout: float = 30.0, force: bool = False) -> str:
    """``path``, downloading it from ``url`` first when it is not there; returns ``str(path)``.

    The download shows a progress bar (tqdm, on stderr), is checked against the SHA-256 prefix that
    OpenMMLab puts in the file name (the URL's, else ``path``'s) when there is one, goes to a temporary
    file beside ``path`` that is renamed only once complete and checked, and is then recorded in the
    folder's trust list (as :func:`fetch_checkpoint` does). ``url`` may be a local path or a file://
    URL (offline). Processes that ask for the same file at once take turns on a lock file beside it
    (``<name>.lock``, removed afterwards): one downloads, the others find the file when their turn
    comes. ``log`` gets one line before and one after a download (None: silent); ``setting`` names
    the setting that holds ``path`` (``'POSE_MODEL_CHECKPOINT'``) for the messages; ``force``
    downloads even when ``path`` is there (the new file replaces it only once complete and checked).

    Raises DownloadError when the file is missing and cannot be had (no URL, no network, HTTP error,
    wrong hash, a truncated transfer, a folder that cannot be written): its message is one line
    naming the file, the URL, the reason and the fix; nothing is left beside ``path``.
    """
    given = str(path)
    path = Path(path)
    if path.is_file() and not force:
        return given
    log = log or (lambda line: None)
    what = f'{setting} {path}' if setting else f'checkpoint {path}'
    fix = (f'copy the file there by hand, or set {setting} (another file) or {setting}_LINK (another URL, a '
           'local path or file://)' if setting else 'copy the file there by hand, or give another URL (a local '
           'path or file:// works too)')
    if not url or not str(url).strip():
        raise _download_error(f'{what} is missing and no URL is set to download it from -> {fix}', path, url,
                              'no URL is set')
    url = str(url).strip()
    expected = sha256_prefix_of_url(url) or sha256_prefix_of_url(path.name)
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise _Failed(f'cannot create {path.parent}: {err.strerror or err}') from None
        with _turn(path, log) as locked:
            if path.is_file() and not force:
                return given  # another process downloaded it while this one waited
            if locked:
                _remove_stale_parts(path)
            log(f'{what} is missing: downloading it from {url}' if not path.is_file() else
                f'{what}: downloading it again from {url}')
            sha, size = _transfer(url, path, expected, timeout)
            checked = f'SHA-256 {sha[:8]}... as its name says' if expected else \
                'not checked: its name carries no SHA-256 prefix'
            try:
                trust(path)
            except OSError as err:  # the file is there; a full unpickle will ask for --trust
                log(f'warning: {path} could not be added to the trust list: {err.strerror or err}')
            log(f'{path}: downloaded ({size / 2**20:.1f} MiB, {checked})')
    except _Failed as failed:
        reason = ' '.join(str(failed).split())
        raise _download_error(f'{what} is missing and cannot be downloaded from {url} ({reason}) -> {fix}', path,
                              url, reason) from None
    return given


def _download_error(message: str, path, url, reason: str) -> 'DownloadError':
    err = DownloadError(' '.join(message.split()))
    err.path, err.url, err.reason = str(path), url, reason
    return err


@contextmanager
def _turn(path: Path, log):
    """An exclusive flock on ``<name>.lock`` beside ``path`` while the block runs; the lock file is
    removed at the end (a waiter that then holds a removed file's lock takes the new file's). Yields
    whether the lock is held: False on a file system without flock (the rename still keeps the file
    whole; two processes may then both download it)."""
    lock = path.with_name(path.name + '.lock')
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise _Failed(f'cannot write in {path.parent}: {err.strerror or err}') from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log(f'{path}: another process is downloading it; waiting for it')
                fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # no flock on this file system
            os.close(fd)
            fd = None
            break
        except BaseException:
            os.close(fd)
            raise
        try:
            current = os.stat(lock)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(os.fstat(fd), current):
            break
        os.close(fd)  # the holder removed this lock file as this process waited: lock the new one
    try:
        yield fd is not None
    finally:
        _unlink(lock)  # before the lock is released: a waiter then sees that the file was replaced
        if fd is not None:
            os.close(fd)


def _unlink(path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _remove_stale_parts(path: Path) -> None:
    """Temporary files of ``path`` that a killed download left (atomic_file's names); only called with the
    lock held, so none of them is being written."""
    pattern = re.compile(re.escape(f'.{path.stem}.') + r'[a-z0-9_]{8}' + re.escape(f'{path.suffix}.part'))
    for name in os.listdir(path.parent):
        if pattern.fullmatch(name):
            _unlink(path.parent / name)


def _as_url(url: str) -> str:
    """A local path (absolute, relative or ~) as a file:// URL; URLs as they are."""
    if re.match(r'[A-Za-z][A-Za-z0-9+.-]*://', url):
        return url
    return Path(url).expanduser().resolve().as_uri()


def _transfer(url: str, destination: Path, expected: Optional[str], timeout: float):
    """``url`` -> ``destination`` through a temporary file renamed when complete and matching ``expected``
    (the SHA-256 prefix, or None); returns (SHA-256, bytes). Raises _Failed, leaving nothing."""
    try:
        response = urllib.request.urlopen(_as_url(url), timeout=timeout)
    except urllib.error.HTTPError as err:
        raise _Failed(f'HTTP {err.code} {err.reason}') from None
    except urllib.error.URLError as err:
        raise _Failed(str(err.reason)) from None
    except (OSError, ValueError, http.client.HTTPException) as err:
        raise _Failed(str(err) or type(err).__name__) from None
    digest, size = hashlib.sha256(), 0
    with response:
        total = int(response.headers.get('Content-Length') or 0) or None
        try:
            with atomic_file(destination, suffix=destination.suffix + '.part') as out, \
                    tqdm(total=total, unit='B', unit_scale=True, unit_divisor=1024, desc=destination.name,
                         file=sys.stderr) as bar:
                os.fchmod(out.fileno(), 0o644)  # mkstemp's 0600 would hide it from the other users of a shared folder
                while True:
                    try:
                        block = response.read(1 << 20)
                    except (OSError, http.client.HTTPException) as err:
                        raise _Failed(f'the transfer broke off after {size} bytes: {err}') from None
                    if not block:
                        break
                    out.write(block)
                    digest.update(block)
                    size += len(block)
                    bar.update(len(block))
                # raised inside the atomic write: nothing is kept
                if total is not None and size != total:
                    raise _Failed(f'the transfer stopped after {size} of {total} bytes')
                if size == 0:
                    raise _Failed('an empty file')
                sha = digest.hexdigest()
                if expected and not sha.startswith(expected):
                    raise _Failed(f'its SHA-256 starts {sha[:8]}, not {expected} as its name says: a corrupt or '
                                  'substituted file')
        except OSError as err:
            raise _Failed(f'cannot write in {destination.parent}: {err.strerror or err}') from None
    return sha, size


def fetch_checkpoint(url: str, destination, force: bool = False, setting: Optional[str] = None) -> str:
    """download_models.py's step: :func:`ensure_checkpoint` without its log lines, ahead of a run;
    returns what happened, in a line."""
    destination = Path(destination)
    if destination.is_file() and not force:
        return f'{destination} already present'
    ensure_checkpoint(destination, url, log=None, setting=setting, force=force)
    return f'{destination} downloaded and verified'
