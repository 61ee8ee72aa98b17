"""Steady, gap-free trajectories on request: short gaps filled and jitter smoothed, after the stage,
on its files (docs/trajectories.md). The stage's own outputs are never changed: a folder in, a
processed copy out (``smooth_folder``, the command ``signpose-smooth``), or one array
(``smooth_array``).

Imports only numpy, scipy and the layers below it (contract, common, engine.quality, output);
nothing of the package imports it but the command (signpose/cli/smooth.py).
"""
from signpose.trajectories.folder import RECORD_NAME, FolderError, smooth_folder
from signpose.trajectories.gaps import find_gaps, missing_points
from signpose.trajectories.smoothing import DEFAULT_METHOD, METHODS, Smoothing, smooth_array

__all__ = ['DEFAULT_METHOD', 'METHODS', 'RECORD_NAME', 'FolderError', 'Smoothing', 'find_gaps', 'missing_points',
           'smooth_array', 'smooth_folder']
