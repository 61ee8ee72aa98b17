"""mmcv-lite (mmcv without compiled ops) made whole for the stage: ``mmcv._ext`` is the project's.

mmdet imports ``mmcv.ops``, whose modules load ``mmcv._ext`` as they are imported. :func:`install`
puts a finder first on ``sys.meta_path`` that answers ``mmcv._ext`` with ``signpose/install/mmcv_ext.py``
(the stage's NMS in torch, stand-ins for the other ops) only where no compiled ``mmcv._ext`` is
found: a compiled mmcv (``MMCV_OPS=1 bash setup.sh``) is always used as it is. This module imports
nothing heavy: ``import signpose`` installs it.
"""
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from typing import List

NAME = 'mmcv._ext'
IMPLEMENTATION = Path(__file__).with_name('mmcv_ext.py')
FULL_OPS = 'MMCV_OPS=1 bash setup.sh'


class MissingOpError(RuntimeError):
    """An mmcv op that this install does not have (mmcv-lite: only the stage's NMS)."""


def missing_op_message(op: str) -> str:
    return (f"mmcv op {op} is not in this install: it has mmcv-lite with only the stage's NMS. "
            f"For a detector that needs mmcv's compiled ops, install them with: {FULL_OPS}")


class _Finder(importlib.abc.MetaPathFinder):
    """Finds ``mmcv._ext`` only where mmcv has no compiled one."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != NAME:
            return None
        if importlib.machinery.PathFinder.find_spec(fullname, path) is not None:
            return None  # a compiled mmcv: its own ops
        return importlib.util.spec_from_file_location(NAME, IMPLEMENTATION)


def install() -> None:
    """Make ``import mmcv._ext`` find the project's where mmcv has no compiled ops. Idempotent; costs
    nothing until ``mmcv.ops`` is imported."""
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def is_lite() -> bool:
    """Whether ``mmcv._ext`` is the project's (mmcv-lite) rather than mmcv's compiled ops."""
    return getattr(importlib.import_module(NAME), '__file__', None) == str(IMPLEMENTATION)


def missing_ops(model) -> List[str]:
    """The compiled mmcv ops that ``model``'s layers would call and this install lacks, as
    ``'Class (op, ...)'``; empty with a compiled mmcv. Known once ``mmcv.ops`` is imported: each op
    module asks ``mmcv._ext`` for its ops as it is imported."""
    if not is_lite():
        return []
    asked = sys.modules[NAME].asked
    found = []
    for layer in model.modules():
        ops = asked.get(type(layer).__module__)
        entry = f"{type(layer).__name__} ({', '.join(ops)})" if ops else None
        if entry and entry not in found:
            found.append(entry)
    return found
