"""The package's layers: each part imports only the parts below it, and no module imports itself
round a circle. Read from the source (every import, at the top or in a function), so the layout
stays as docs/architecture.md draws it."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / 'signpose'

# bottom first: the flow manifest -> tasks -> frames -> detection -> pose -> rows -> files -> run,
# with what every part shares at the bottom and the tools on top
LAYERS = ['contract', 'common', 'config', 'data', 'nets', 'engine', 'output', 'trajectories', 'run', 'qa', 'benchmarks',
          'cli']


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def layer_of(module: str) -> int:
    part = module.split('.')[1] if module.count('.') else ''
    return LAYERS.index(part)


def project_imports(path: Path):
    """(line, imported module, the import's source line) of each import of a signpose module."""
    source = path.read_text()
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith('signpose'):
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith('signpose')]
        for name in names:
            yield node.lineno, name, lines[node.lineno - 1]


def graph() -> dict:
    modules = {module_name(p): p for p in PACKAGE.rglob('*.py')}
    edges = {}
    for name, path in modules.items():
        if path.name == '__init__.py':
            continue  # a package's own file: signpose/__init__.py installs the NMS, the others are empty
        targets = set()
        for _, imported, _ in project_imports(path):
            while imported not in modules and '.' in imported:
                imported = imported.rsplit('.', 1)[0]  # from signpose.contract import rows -> the package
            if imported != 'signpose' and modules[imported].name != '__init__.py':
                targets.add(imported)
        edges[name] = targets
    return edges


def test_every_module_has_a_layer():
    assert all(layer_of(name) >= 0 for name in graph())


def test_no_import_runs_back_up():
    upward = [f'{name} ({LAYERS[layer_of(name)]}) imports {target} ({LAYERS[layer_of(target)]})'
              for name, targets in graph().items() for target in targets if layer_of(target) > layer_of(name)]
    assert not upward, '\n'.join(upward)


def test_no_circle_of_imports():
    edges, state, circles = graph(), {}, []

    def visit(node, trail):
        state[node] = 'open'
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 'open':
                circles.append(' -> '.join(trail[trail.index(target):] + [target]))
            elif target not in state:
                visit(target, trail + [target])
        state[node] = 'done'

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not circles, '\n'.join(circles)


def test_function_local_imports_say_why():
    """An import of the project's own modules inside a function keeps an optional dependency
    optional (pose-format, Ray, a runtime), and says so on its line."""
    silent = []
    for path in PACKAGE.rglob('*.py'):
        tree = ast.parse(path.read_text())
        lines = path.read_text().splitlines()
        for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
                        name.startswith('signpose') for name in ([node.module or ''] if isinstance(node, ast.ImportFrom)
                                                                 else [a.name for a in node.names])):
                    if 'optional' not in lines[node.lineno - 1]:
                        silent.append(f'{path.relative_to(PACKAGE.parent)}:{node.lineno}: {lines[node.lineno - 1].strip()}')
    assert not silent, '\n'.join(silent)
