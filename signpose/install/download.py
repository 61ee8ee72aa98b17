"""Downloading the checkpoints the config names: progress bar, SHA-256 check, atomic write."""
import hashlib
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from tqdm import tqdm

from signpose.common.atomic import atomic_file
from signpose.install.checkpoints import trust


class DownloadError(RuntimeError):
    pass


def sha256_prefix_of_url(url: str) -> Optional[str]:
    """OpenMMLab names files ...-<first 8 hex of SHA-256>[_<date>].pth."""
    match = re.search(r'-([0-9a-f]{8})(?:_\d{8})?\.pth$', url)
    return match.group(1) if match else None


def download(url: str, destination, timeout: float = 30.0) -> str:
    """Fetch ``url`` to ``destination``; returns the file's SHA-256.

    The data goes to a temporary file beside the destination and is renamed only once it is
    complete and its hash starts with the prefix in the file name, so no partial file is left.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    expected = sha256_prefix_of_url(url)
    digest = hashlib.sha256()
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, 'reason', err)
        raise DownloadError(f'cannot download {url}: {reason} (no network? copy the file to '
                            f'{destination} by hand)') from None
    with response, atomic_file(destination, suffix=destination.suffix + '.part') as out, \
            tqdm(total=int(response.headers.get('Content-Length') or 0) or None, unit='B',
                 unit_scale=True, desc=destination.name) as bar:
        for block in iter(lambda: response.read(1 << 20), b''):
            out.write(block)
            digest.update(block)
            bar.update(len(block))
        sha = digest.hexdigest()
        if expected and not sha.startswith(expected):  # raised inside: nothing is kept
            raise DownloadError(f'{url}: SHA-256 {sha[:8]}... does not match {expected} in its name '
                                '(a corrupt or substituted file); nothing was saved')
    return sha


def fetch_checkpoint(url: str, destination, force: bool = False) -> str:
    """Download unless present; record the verified file in the folder's trust list."""
    destination = Path(destination)
    if destination.is_file() and not force:
        return f'{destination} already present'
    download(url, destination)
    trust(destination)
    return f'{destination} downloaded and verified'

