"""The model download command: progress, SHA-256 prefix check, atomic write, clear errors."""
import hashlib
import http.server
import socket
import subprocess
import sys
import threading

import pytest
from conftest import ROOT

from signpose.install.checkpoints import TRUST_LIST_NAME, trusted_hashes
from signpose.install.download import DownloadError, download, fetch_checkpoint, sha256_prefix_of_url

PAYLOAD = b'weights' * 50000
PREFIX = hashlib.sha256(PAYLOAD).hexdigest()[:8]


@pytest.fixture(scope='module')
def server():
    """A file server on the loopback interface."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header('Content-Length', str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{httpd.server_port}'
    httpd.shutdown()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_prefix_from_official_names():
    assert sha256_prefix_of_url('x/rtmdet_m_8xb32-300e_coco_20220719_112220-229f527c.pth') == '229f527c'
    assert sha256_prefix_of_url('x/rtmw3d-l_8xb64_cocktail14-384x288-794dbc78_20240626.pth') == '794dbc78'
    assert sha256_prefix_of_url('x/model.pth') is None


def test_verified_download_is_written_and_trusted(server, tmp_path):
    target = tmp_path / 'ckpt' / 'rtmw3d-l.pth'
    message = fetch_checkpoint(f'{server}/model-{PREFIX}_20240626.pth', target)
    assert 'downloaded and verified' in message
    assert target.read_bytes() == PAYLOAD
    assert hashlib.sha256(PAYLOAD).hexdigest() in trusted_hashes(target.parent)
    assert sorted(p.name for p in target.parent.iterdir()) == [TRUST_LIST_NAME, 'rtmw3d-l.pth']
    assert 'already present' in fetch_checkpoint(f'{server}/model-{PREFIX}.pth', target)


def test_wrong_hash_leaves_nothing(server, tmp_path):
    with pytest.raises(DownloadError, match='does not match 00000000'):
        download(f'{server}/model-00000000.pth', tmp_path / 'bad.pth')
    assert list(tmp_path.iterdir()) == []


def test_no_network_is_one_clear_line_nonzero_and_no_file(tmp_path):
    url = f'http://127.0.0.1:{closed_port()}/rtmdet_m-229f527c.pth'
    target = tmp_path / 'rtmdet_m.pth'
    result = subprocess.run(
        [sys.executable, 'scripts/download_models.py', '--cfg-options', f'DET_MODEL_CHECKPOINT_LINK={url}',
         f'POSE_MODEL_CHECKPOINT_LINK={url}', f'DET_MODEL_CHECKPOINT={target}',
         f'POSE_MODEL_CHECKPOINT={tmp_path / "pose.pth"}'],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith('ERROR')]
    assert len(errors) == 2 and all('cannot download' in e and 'no network?' in e for e in errors)
    assert list(tmp_path.iterdir()) == []


def test_trust_command(tmp_path):
    checkpoint = tmp_path / 'mine.pth'
    checkpoint.write_bytes(b'abc')
    result = subprocess.run([sys.executable, 'scripts/download_models.py', '--trust', str(checkpoint)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and hashlib.sha256(b'abc').hexdigest() in result.stdout
    assert hashlib.sha256(b'abc').hexdigest() in trusted_hashes(tmp_path)
