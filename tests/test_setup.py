"""setup.sh's decisions, simulated here without installing or building anything: the default stack
from wheels (mmcv-lite), the torch it keeps, and with MMCV_OPS=1 the mmcv build on a GPU machine.

The simulated machine: a stub ``nvidia-smi`` (and, where wanted, ``nvcc``) on PATH, and a venv
holding a fake torch whose version, CUDA build and GPU visibility the test sets. The fake, like
torch, sees no GPU when CUDA_VISIBLE_DEVICES is empty. ``DRY_RUN=1`` runs every check and
decision of setup.sh and prints the commands instead of running them; the mmcv build's
environment is read by a probe that setup.sh runs in that very environment. Where a command must
really run, a stub pip records its arguments and environment instead of installing.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT / 'setup.sh'

FAKE_TORCH = '''
import os
__version__ = {version!r}
class version:
    cuda = {cuda!r}
    hip = None
class cuda:
    @staticmethod
    def is_available():
        # as torch: a GPU, a CUDA build, and the GPU not hidden by an empty CUDA_VISIBLE_DEVICES
        return {gpu!r} and version.cuda is not None and os.environ.get('CUDA_VISIBLE_DEVICES') != ''
'''

STUB_PIP = '''
import json, os, sys
with open(os.environ['PIP_LOG'], 'a') as f:
    keys = ('FORCE_CUDA', 'CUDA_VISIBLE_DEVICES', 'CUDA_HOME', 'MMCV_WITH_OPS', 'MAX_JOBS')
    f.write(json.dumps(dict(args=sys.argv[1:], env={k: os.environ[k] for k in keys if k in os.environ})) + '\\n')
'''


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


class Machine:
    """A simulated machine: a venv with a fake torch, a bin folder of stubs, an empty toolkit folder."""

    def __init__(self, root: Path, torch_version='2.13.0+cu128', cuda='12.8', gpu=True):
        self.root = root
        self.venv = root / 'venv'
        subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(self.venv)], check=True)
        self.site = Path(subprocess.run(
            [str(self.venv / 'bin' / 'python'), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
            check=True, capture_output=True, text=True).stdout.strip())
        (self.site / 'torch').mkdir()
        (self.site / 'torch' / '__init__.py').write_text(FAKE_TORCH.format(version=torch_version, cuda=cuda, gpu=gpu))
        info = self.site / f'torch-{torch_version}.dist-info'
        info.mkdir()
        (info / 'METADATA').write_text(f'Metadata-Version: 2.1\nName: torch\nVersion: {torch_version}\n')
        self.bin = root / 'bin'
        self.bin.mkdir()
        self.default_cuda = root / 'no-default-cuda'  # stands for /usr/local/cuda
        self.pip_log = root / 'pip.jsonl'

    def gpu(self):
        executable(self.bin / 'nvidia-smi', '#!/bin/sh\necho "GPU 0: NVIDIA H200 (UUID: GPU-0)"\n')

    def nvcc(self, folder: Path, release='12.8') -> Path:
        return executable(folder / 'nvcc', f'#!/bin/sh\necho "Cuda compilation tools, release {release}, V{release}.93"\n')

    def stub_pip(self):
        (self.site / 'pip').mkdir()
        (self.site / 'pip' / '__init__.py').write_text('')
        (self.site / 'pip' / '__main__.py').write_text(STUB_PIP)

    def pip_calls(self):
        if not self.pip_log.exists():
            return []
        return [json.loads(line) for line in self.pip_log.read_text().splitlines()]

    def setup(self, dry_run=True, **env):
        # PATH without /usr/local/bin: this machine's own tools must not leak into the simulation
        base = dict(PATH=f'{self.bin}:/usr/bin:/bin', HOME=os.environ.get('HOME', '/root'),
                    VENV=str(self.venv), CUDA_DEFAULT_HOME=str(self.default_cuda), PIP_LOG=str(self.pip_log),
                    DRY_RUN='1' if dry_run else '0')
        base.update(env)
        return subprocess.run(['bash', str(SETUP)], env=base, capture_output=True, text=True, timeout=120)


@pytest.fixture
def machine(tmp_path):
    return lambda **kw: Machine(tmp_path, **kw)


def mmcv_build_line(result):
    lines = [line for line in result.stdout.splitlines() if 'the build sees:' in line]
    assert len(lines) == 1, result.stdout + result.stderr
    return lines[0]


def test_default_installs_mmcv_lite_and_builds_nothing_but_xtcocotools(machine, tmp_path):
    m = machine()
    m.gpu()
    m.nvcc(m.bin)  # even with nvcc and a CUDA torch: no build
    result = m.setup()
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any('pip install' in line and '--no-deps mmcv-lite==2.1.0' in line for line in lines), result.stdout
    assert not any('mmcv==2.1.0' in line or 'the build sees' in line or 'nvcc:' in line or 'ninja' in line
                   for line in lines), result.stdout
    builds = [line for line in lines if '--no-binary' in line or 'no-build-isolation' in line]
    assert all('xtcocotools' in line or '-e ' in line for line in builds), builds


def test_a_compiled_mmcv_already_installed_is_kept(machine):
    m = machine()
    (m.site / 'mmcv').mkdir()
    (m.site / 'mmcv' / '__init__.py').write_text('')
    (m.site / 'mmcv' / '_ext.py').write_text('')  # stands for the compiled extension
    info = m.site / 'mmcv-2.1.0.dist-info'
    info.mkdir()
    (info / 'METADATA').write_text('Metadata-Version: 2.1\nName: mmcv\nVersion: 2.1.0\n')
    result = m.setup()
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'compiled ops is installed: kept' in result.stdout and 'mmcv-lite==2.1.0' not in result.stdout


@pytest.mark.parametrize('version', ['2.9.1+cpu', '2.11.0+cu128', '2.13.0+cu128'])
def test_a_supported_torch_in_the_venv_is_kept(machine, version):
    m = machine(torch_version=version, cuda=None if version.endswith('cpu') else '12.8')
    result = m.setup()
    assert result.returncode == 0, result.stdout + result.stderr
    assert not any('pip' in line and 'torch==' in line for line in result.stdout.splitlines()), result.stdout
    assert f'torch {version}' in result.stdout


@pytest.mark.parametrize('version', ['2.8.0+cu128', '2.14.0+cu128', '1.13.1'])
def test_a_torch_outside_the_range_stops_with_one_line_naming_the_range(machine, version):
    m = machine(torch_version=version)
    result = m.setup()
    assert result.returncode == 1
    assert result.stderr.count('\n') == 1, result.stderr
    assert f'torch {version}' in result.stderr and 'torch 2.9 to 2.13' in result.stderr


def test_mmcv_ops_must_be_0_or_1(machine):
    result = machine().setup(MMCV_OPS='yes')
    assert result.returncode == 1 and result.stderr.count('\n') == 1 and 'MMCV_OPS=yes' in result.stderr


def test_mmcv_ops_on_a_gpu_machine_without_nvcc_stops_with_one_line(machine):
    m = machine()
    m.gpu()
    result = m.setup(MMCV_OPS='1', FORCE_CUDA='')
    assert result.returncode == 1
    assert result.stderr.count('\n') == 1, result.stderr
    assert 'needs nvcc' in result.stderr and 'mmcv-lite' in result.stderr and 'MMCV_FORCE_CUDA=0' in result.stderr


def test_mmcv_ops_replaces_mmcv_lite_before_the_build(machine):
    m = machine(torch_version='2.13.0+cpu', cuda=None)
    (m.site / 'mmcv').mkdir()
    info = m.site / 'mmcv_lite-2.1.0.dist-info'
    info.mkdir()
    (info / 'METADATA').write_text('Metadata-Version: 2.1\nName: mmcv-lite\nVersion: 2.1.0\n')
    result = m.setup(MMCV_OPS='1')
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    uninstall = next(i for i, line in enumerate(lines) if 'uninstall' in line and 'mmcv-lite' in line)
    build = next(i for i, line in enumerate(lines) if 'mmcv==2.1.0' in line and 'install' in line)
    assert uninstall < build


def test_gpu_machine_without_nvcc_builds_cpu_ops_with_the_gpu_hidden_when_asked(machine):
    m = machine()
    m.gpu()
    result = m.setup(MMCV_OPS='1', MMCV_FORCE_CUDA='0')
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'CUDA ops: no' in result.stdout
    seen = mmcv_build_line(result)
    # the fake torch sees the GPU outside the build; inside it, hidden, so mmcv compiles what was announced
    assert "torch.cuda.is_available()=False" in seen and "CUDA_VISIBLE_DEVICES=''" in seen
    assert "FORCE_CUDA='unset'" in seen and seen.endswith('-> CPU ops')
    assert 'torch 2.13.0+cu128, CUDA 12.8 build, GPU usable' in result.stdout


def test_the_mmcv_build_itself_gets_that_environment(machine):
    """Not a dry run: the stub pip records the environment the real build command gets."""
    m = machine()
    m.gpu()
    m.stub_pip()
    result = m.setup(dry_run=False, MAX_JOBS='3', MMCV_OPS='1', MMCV_FORCE_CUDA='0')
    builds = [c for c in m.pip_calls() if 'mmcv==2.1.0' in c['args']]
    assert len(builds) == 1, result.stdout + result.stderr
    assert builds[0]['env'] == dict(CUDA_VISIBLE_DEVICES='', MMCV_WITH_OPS='1', MAX_JOBS='3')
    assert '--no-build-isolation' in builds[0]['args'] and '--no-cache-dir' not in builds[0]['args']
    # nothing was really installed, so the final check of the stack is what stops the run
    assert 'FAILED at step: check the stack' in result.stdout


@pytest.mark.parametrize('where', ['PATH', 'CUDA_HOME', 'default'])
def test_gpu_machine_with_nvcc_builds_cuda_ops_and_says_where_nvcc_is(machine, tmp_path, where):
    m = machine()
    m.gpu()
    env = {}
    if where == 'PATH':
        nvcc = m.nvcc(m.bin)
    elif where == 'CUDA_HOME':
        env['CUDA_HOME'] = str(tmp_path / 'cuda-12.8')
        nvcc = m.nvcc(tmp_path / 'cuda-12.8' / 'bin')
    else:
        nvcc = m.nvcc(m.default_cuda / 'bin')
    result = m.setup(MMCV_OPS='1', **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'CUDA ops: yes' in result.stdout
    said = next(line for line in result.stdout.splitlines() if line.strip().startswith('nvcc:'))
    assert str(nvcc) in said and 'CUDA 12.8' in said
    assert {'PATH': 'found on PATH', 'CUDA_HOME': 'found in $CUDA_HOME/bin', 'default': f'found in {m.default_cuda}/bin'}[where] in said
    seen = mmcv_build_line(result)
    assert "FORCE_CUDA='1'" in seen and f"CUDA_HOME='{nvcc.parent.parent}'" in seen
    assert seen.endswith('-> CUDA and CPU ops')
    assert '--no-cache-dir mmcv==2.1.0' in result.stdout  # a CUDA build never takes a cached CPU-only wheel


def test_nvcc_of_another_cuda_major_stops_with_one_line(machine):
    m = machine()
    m.gpu()
    m.nvcc(m.bin, release='13.0')
    result = m.setup(MMCV_OPS='1')
    assert result.returncode == 1
    assert result.stderr.count('\n') == 1, result.stderr
    assert 'CUDA 13.0' in result.stderr and 'CUDA 12.8' in result.stderr and 'MMCV_FORCE_CUDA=0' in result.stderr


def test_forced_cuda_ops_without_nvcc_stop_with_one_line(machine):
    m = machine()
    m.gpu()
    result = m.setup(MMCV_OPS='1', MMCV_FORCE_CUDA='1')
    assert result.returncode == 1
    assert result.stderr.count('\n') == 1 and 'no nvcc' in result.stderr and 'MMCV_FORCE_CUDA=0' in result.stderr


def test_cpu_torch_on_a_gpu_machine_is_replaced_by_a_cuda_build(machine):
    m = machine(torch_version='2.13.0+cpu', cuda=None)
    m.gpu()
    result = m.setup()
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'torch 2.13.0+cpu is a CPU build and this machine has an NVIDIA GPU' in result.stdout
    lines = result.stdout.splitlines()
    uninstall = next(i for i, line in enumerate(lines) if 'pip uninstall' in line and ' torch' in line)
    install = next(i for i, line in enumerate(lines) if 'pip install' in line and 'torch==2.13.0' in line)
    assert uninstall < install and '--index-url' not in lines[install]  # PyPI: its Linux wheels are CUDA builds


def test_cpu_torch_that_stays_cpu_stops_with_one_line_saying_how(machine):
    """The reinstall (stub pip) leaves the CPU build: setup stops, naming the CUDA index."""
    m = machine(torch_version='2.13.0+cpu', cuda=None)
    m.gpu()
    m.stub_pip()
    result = m.setup(dry_run=False, TORCH_INDEX_URL='https://download.pytorch.org/whl/cpu')
    assert result.returncode == 1
    assert result.stderr.count('\n') == 1, result.stderr
    assert 'torch 2.13.0+cpu is a CPU build' in result.stderr and 'TORCH_INDEX_URL=' in result.stderr
    assert 'FAILED at step' not in result.stdout
    torch_calls = [c['args'] for c in m.pip_calls() if any(a.startswith('torch') for a in c['args'])]
    assert torch_calls[0][:1] == ['uninstall'] and torch_calls[1][:1] == ['install']
    assert torch_calls[1][-2:] == ['--index-url', 'https://download.pytorch.org/whl/cpu']


def test_cpu_torch_is_kept_where_asked_or_without_a_gpu(machine):
    m = machine(torch_version='2.13.0+cpu', cuda=None)
    for env in (dict(), dict(CPU_TORCH='1')):
        if env:
            m.gpu()
        result = m.setup(MMCV_OPS='1', **env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert 'reinstalling torch' not in result.stdout and 'torch==2.13.0' not in result.stdout
        assert 'CUDA ops: no' in result.stdout and mmcv_build_line(result).endswith('-> CPU ops')


def test_numpy_choice(machine):
    m = machine()
    for numpy, pin in (('1', '1.26.4'), ('2', None)):
        result = m.setup(NUMPY=numpy)
        assert result.returncode == 0, result.stdout + result.stderr
        install = next(line for line in result.stdout.splitlines() if '-r requirements.txt' in line)
        assert f'numpy=={pin}' in install if pin else 'numpy==2.' in install
    result = m.setup(NUMPY='3')
    assert result.returncode == 1 and result.stderr.count('\n') == 1 and 'NUMPY=2' in result.stderr


def test_unsupported_python_and_mismatched_venv_stop_with_one_line(machine, tmp_path):
    m = machine()
    other = executable(tmp_path / 'pybin' / 'python3.99', '#!/bin/sh\necho 3.99\n')
    result = m.setup(PYTHON=str(other))
    assert result.returncode == 1 and result.stderr.count('\n') == 1
    assert 'holds Python 3.11' in result.stderr and 'VENV=' in result.stderr
    fresh = m.setup(PYTHON=str(other), VENV=str(tmp_path / 'new'))
    assert fresh.returncode == 1 and fresh.stderr.count('\n') == 1
    assert 'Python 3.99 is not supported' in fresh.stderr
    missing = m.setup(PYTHON='python3.42', VENV=str(tmp_path / 'new'))
    assert missing.returncode == 1 and 'PYTHON=python3.42 is not on PATH' in missing.stderr


def test_setup_sh_pins_match_requirements():
    """The numpy pins live in setup.sh only; requirements.txt must not pin another numpy or xtcocotools."""
    text = SETUP.read_text()
    assert 'NUMPY1_VERSION=1.26.4' in text
    requirements = [line.split('#')[0].strip() for line in (ROOT / 'requirements.txt').read_text().splitlines()]
    names = {line.split('=')[0].split('<')[0].split('>')[0].strip().lower() for line in requirements if line}
    assert 'numpy' not in names and 'xtcocotools' not in names


HOOK = ROOT / 'scripts' / 'signpose_mmcv_ext.pth'


def test_setup_writes_the_startup_hook_once_and_keeps_it(machine):
    """Not a dry run (a stub pip): the .pth lands in the venv's site-packages, a rerun keeps it as it is, and
    MMCV_OPS=1 keeps it too (harmless beside a compiled mmcv: its own _ext is found first)."""
    m = machine(torch_version='2.13.0+cpu', cuda=None)
    m.stub_pip()
    installed = m.site / 'signpose_mmcv_ext.pth'
    for env in (dict(), dict(), dict(MMCV_OPS='1', MMCV_FORCE_CUDA='0')):
        result = m.setup(dry_run=False, **env)
        # nothing was really installed, so the final check of the stack is what stops the run
        assert 'FAILED at step: check the stack' in result.stdout, result.stdout + result.stderr
        assert installed.read_bytes() == HOOK.read_bytes()
        assert [p.name for p in m.site.glob('*.pth')] == ['signpose_mmcv_ext.pth']
    assert f'{installed} is up to date' in result.stdout


def run_in(venv: Path, code: str, cwd: Path):
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHONSTARTUP')}
    return subprocess.run([str(venv / 'bin' / 'python'), '-c', code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_the_startup_hook_imports_nothing_is_silent_and_defers_to_a_compiled_mmcv(tmp_path):
    """The hook in a bare venv with stand-ins for mmcv and signpose: at start-up it imports nothing and says
    nothing, with or without a signpose, even a broken one; mmcv._ext then comes from signpose's finder, or
    from a compiled mmcv without importing signpose at all."""
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)
    site = Path(run_in(venv, 'import sysconfig; print(sysconfig.get_paths()["purelib"])', tmp_path).stdout.strip())
    (site / 'signpose_mmcv_ext.pth').write_bytes(HOOK.read_bytes())
    (site / 'mmcv').mkdir()
    (site / 'mmcv' / '__init__.py').write_text('')
    probe = ('import sys; print(sorted(n for n in ("signpose", "mmcv") if n in sys.modules), '
             'sum(type(f).__name__ == "SignposeMmcvExt" for f in sys.meta_path))\n'
             'try:\n import mmcv._ext as e; print(e.WHAT, "signpose" in sys.modules)\n'
             'except ModuleNotFoundError as err:\n print("missing", err.name)')
    start = "[] 1"  # nothing imported at start-up; one finder although site runs a venv's .pth files twice

    def probe_lines():
        result = run_in(venv, probe, tmp_path)
        assert result.returncode == 0 and result.stderr == '', result.stderr
        return result.stdout.splitlines()

    assert probe_lines() == [start, 'missing mmcv._ext']  # no signpose: as without the hook
    (site / 'signpose').mkdir()
    (site / 'signpose' / '__init__.py').write_text('raise RuntimeError("broken")\n')
    assert probe_lines() == [start, 'missing mmcv._ext']  # a signpose that fails to import: the same, silently
    (site / 'signpose' / '__init__.py').write_text(
        'import importlib.abc, importlib.util, os, sys\n'
        'class _Finder(importlib.abc.MetaPathFinder):\n'
        '    def find_spec(self, name, path=None, target=None):\n'
        '        if name == "mmcv._ext":\n'
        '            return importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(__file__), "ext.py"))\n'
        'sys.meta_path.insert(0, _Finder())\n')
    (site / 'signpose' / 'ext.py').write_text('WHAT = "signpose"\n')
    assert probe_lines() == [start, 'signpose True']  # imported only when mmcv._ext is
    (site / 'mmcv' / '_ext.py').write_text('WHAT = "compiled"\n')  # stands for the compiled extension
    assert probe_lines() == [start, 'compiled False']  # a compiled mmcv wins; signpose is never imported
    assert run_in(venv, 'pass', tmp_path).stderr == ''
