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
from signpose.install.download import DownloadError, ensure_checkpoint, fetch_checkpoint, sha256_prefix_of_url

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
    target.write_bytes(b'an older file')  # --force: downloaded again, replacing it once checked
    assert 'downloaded and verified' in fetch_checkpoint(f'{server}/model-{PREFIX}.pth', target, force=True)
    assert target.read_bytes() == PAYLOAD
    with pytest.raises(DownloadError, match='not 00000000 as its name says'):
        fetch_checkpoint(f'{server}/model-00000000.pth', target, force=True)
    assert target.read_bytes() == PAYLOAD  # a failed forced download keeps the file there
    assert sorted(p.name for p in target.parent.iterdir()) == [TRUST_LIST_NAME, 'rtmw3d-l.pth']


def test_wrong_hash_leaves_nothing(server, tmp_path):
    with pytest.raises(DownloadError, match='not 00000000 as its name says'):
        fetch_checkpoint(f'{server}/model-00000000.pth', tmp_path / 'bad.pth')
    assert list(tmp_path.iterdir()) == []


def test_no_network_is_one_clear_line_nonzero_and_no_file(tmp_path):
    url = f'http://127.0.0.1:{closed_port()}/rtmdet_m-229f527c.pth'
    target = tmp_path / 'rtmdet_m.pth'
    result = subprocess.run(
        [sys.executable, 'scripts/download_models.py', '--cfg-options', f'DET_MODEL_CHECKPOINT_LINK={url}',
         f'POSE_MODEL_CHECKPOINT_LINK={url}', f'DET_MODEL_CHECKPOINT={target}',
         f'POSE_MODEL_CHECKPOINT={tmp_path / "pose.pth"}'],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith('ERROR')]
    assert len(errors) == 2 and all('cannot be downloaded from' in e and '-> copy the file there by hand' in e
                                    for e in errors)
    assert errors[0].startswith(f'ERROR: DET_MODEL_CHECKPOINT {target} is missing')
    assert errors[1].startswith('ERROR: POSE_MODEL_CHECKPOINT')
    assert list(tmp_path.iterdir()) == []


def test_trust_command(tmp_path):
    checkpoint = tmp_path / 'mine.pth'
    checkpoint.write_bytes(b'abc')
    result = subprocess.run([sys.executable, 'scripts/download_models.py', '--trust', str(checkpoint)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and hashlib.sha256(b'abc').hexdigest() in result.stdout
    assert hashlib.sha256(b'abc').hexdigest() in trusted_hashes(tmp_path)


# ensure_checkpoint: the checkpoint downloaded on first use when missing --------------------------------

class FileServer:
    """http.server on 127.0.0.1 serving the files of a folder; it records each GET, answers
    ``/truncated/NAME`` with NAME cut short (Content-Length says more), and holds the second half of
    ``gated`` until ``gate`` is set."""

    def __init__(self, folder):
        self.folder, self.requests, self.gated, self.gate = folder, [], None, threading.Event()
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def do_GET(self):
                server.requests.append(self.path)
                if self.path.startswith('/truncated/'):
                    data = (folder / self.path.split('/')[-1]).read_bytes()
                    self.send_response(200)
                    self.send_header('Content-Length', str(len(data) + 100))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                super().do_GET()

            def copyfile(self, source, outputfile):
                if self.path != server.gated:
                    return super().copyfile(source, outputfile)
                data = source.read()
                outputfile.write(data[:len(data) // 2])
                outputfile.flush()
                server.gate.wait(120)
                outputfile.write(data[len(data) // 2:])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self.httpd.server_port}'

    def gets(self, name: str) -> int:
        return sum(path.endswith('/' + name) for path in self.requests)


@pytest.fixture
def files(tmp_path):
    folder = tmp_path / 'served'
    folder.mkdir()
    server = FileServer(folder)
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.gate.set()
    server.httpd.shutdown()
    server.httpd.server_close()


def offer(files, name: str, data: bytes = PAYLOAD) -> str:
    (files.folder / name).write_bytes(data)
    return f'{files.url}/{name}'


def test_ensure_checkpoint_downloads_checks_and_trusts_then_keeps(files, tmp_path, capfd):
    url = offer(files, f'rtmw3d-l_8xb64_cocktail14-384x288-{PREFIX}_20240626.pth')
    target = tmp_path / 'models' / 'checkpoints' / 'rtmw3d-l.pth'
    target.parent.mkdir(parents=True)
    stale = target.parent / '.rtmw3d-l.k2j4_x9a.pth.part'  # a download killed half-way
    stale.write_bytes(PAYLOAD[:100])
    logged = []
    assert ensure_checkpoint(target, url, log=logged.append, setting='POSE_MODEL_CHECKPOINT') == str(target)
    assert target.read_bytes() == PAYLOAD and files.gets(url.split('/')[-1]) == 1
    assert hashlib.sha256(PAYLOAD).hexdigest() in trusted_hashes(target.parent)
    assert sorted(p.name for p in target.parent.iterdir()) == [TRUST_LIST_NAME, 'rtmw3d-l.pth']
    assert target.stat().st_mode & 0o777 == 0o644
    assert len(logged) == 2 and url in logged[0] and 'POSE_MODEL_CHECKPOINT' in logged[0]
    assert f'SHA-256 {PREFIX}... as its name says' in logged[1]
    progress = capfd.readouterr().err
    assert 'rtmw3d-l.pth' in progress and '100%' in progress  # tqdm's bar on stderr
    # present: returned as it is, nothing fetched, nothing said
    assert ensure_checkpoint(str(target), url, log=logged.append) == str(target)
    assert files.gets(url.split('/')[-1]) == 1 and len(logged) == 2


@pytest.mark.parametrize('form', ['path', 'file-url'])
def test_ensure_checkpoint_takes_a_local_file(files, tmp_path, form):
    source = files.folder / f'model-{PREFIX}.pth'
    source.write_bytes(PAYLOAD)
    target = tmp_path / 'ckpt' / 'model.pth'
    url = str(source) if form == 'path' else source.as_uri()
    assert ensure_checkpoint(target, url, log=None) == str(target)
    assert target.read_bytes() == PAYLOAD and files.requests == []
    assert hashlib.sha256(PAYLOAD).hexdigest() in trusted_hashes(target.parent)


def assert_one_line_naming(err, target, url):
    message = str(err)
    assert '\n' not in message
    assert message.startswith(f'POSE_MODEL_CHECKPOINT {target} is missing and ')
    assert (url in message) if url else 'no URL is set' in message
    assert '-> copy the file there by hand, or set POSE_MODEL_CHECKPOINT' in message
    assert 'POSE_MODEL_CHECKPOINT_LINK' in message


def test_ensure_checkpoint_refuses_a_wrong_hash_and_leaves_nothing(files, tmp_path):
    url = offer(files, 'rtmw3d-l-00000000_20240626.pth')
    target = tmp_path / 'ckpt' / 'rtmw3d-l.pth'
    with pytest.raises(DownloadError) as err:
        ensure_checkpoint(target, url, log=None, setting='POSE_MODEL_CHECKPOINT')
    assert_one_line_naming(err.value, target, url)
    assert f'its SHA-256 starts {PREFIX}, not 00000000' in str(err.value)
    assert list(target.parent.iterdir()) == []  # no file, no .part, no .lock, no trust list


@pytest.mark.parametrize('case', ['closed-port', '404', 'truncated', 'no-url', 'empty-url'])
def test_ensure_checkpoint_that_cannot_download_says_so_in_one_line(files, tmp_path, case):
    offer(files, f'model-{PREFIX}.pth')
    url = {'closed-port': f'http://127.0.0.1:{closed_port()}/model-{PREFIX}.pth',
           '404': f'{files.url}/nothing-{PREFIX}.pth',
           'truncated': f'{files.url}/truncated/model-{PREFIX}.pth',
           'no-url': None, 'empty-url': ' '}[case]
    target = tmp_path / 'ckpt' / 'rtmw3d-l.pth'
    with pytest.raises(DownloadError) as err:
        ensure_checkpoint(target, url, log=None, setting='POSE_MODEL_CHECKPOINT')
    assert_one_line_naming(err.value, target, url if url and url.strip() else None)
    assert {'closed-port': 'refused', '404': 'HTTP 404', 'truncated': f'stopped after {len(PAYLOAD)} of',
            'no-url': 'no URL is set', 'empty-url': 'no URL is set'}[case] in str(err.value)
    assert not target.parent.exists() or list(target.parent.iterdir()) == []


def test_ensure_checkpoint_in_two_processes_at_once_downloads_once(files, tmp_path):
    """The first process holds the lock while its transfer is held half-way; the second waits for it,
    then finds the complete file: one GET, one whole file, nothing else left."""
    url = offer(files, f'big-{PREFIX}.pth')
    files.gated = f'/big-{PREFIX}.pth'
    target = tmp_path / 'ckpt' / 'rtmw3d-l.pth'
    code = ('import sys; from signpose.install.download import ensure_checkpoint\n'
            'print(ensure_checkpoint(sys.argv[1], sys.argv[2], log=lambda line: print(line, flush=True)), flush=True)')
    start = lambda: subprocess.Popen([sys.executable, '-c', code, str(target), url], cwd=ROOT, text=True,  # noqa: E731
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    first = start()
    second = None
    try:
        for _ in range(1200):  # the first one's transfer has begun (it holds the lock)
            if files.requests or first.poll() is not None:
                break
            threading.Event().wait(0.1)
        assert files.requests, 'the first process never asked for the file'
        second = start()
        assert 'another process is downloading it; waiting' in second.stdout.readline()
    finally:
        files.gate.set()
    outs = [p.communicate(timeout=120)[0] for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outs
    assert all(out.splitlines()[-1] == str(target) for out in outs), outs
    assert files.gets(f'big-{PREFIX}.pth') == 1
    assert target.read_bytes() == PAYLOAD
    assert sorted(p.name for p in target.parent.iterdir()) == [TRUST_LIST_NAME, 'rtmw3d-l.pth']
    assert len((target.parent / TRUST_LIST_NAME).read_text().splitlines()) == 1
