"""Which body part each of the 85 rows is, and the default filter settings of each part.

Parts: ``torso`` (shoulders and hips, with the rest of COCO's body and feet in a 133-point file:
slow, steady), ``elbows`` (they follow the hands, at about half their speed), ``face`` (contour,
brows, nose, mouth: small, quick movements), ``hands`` (the 42 hand points, wrists included: the
fastest movements of signing). A keypoint list other than the stage's 85 (a .pose file's 133
points) is split the same way by COCO-WholeBody index (0-22 torso but 7, 8 elbows; 23-90 face;
91-132 hands, as ``signpose.engine.quality.part_key``).

The defaults were chosen with ``scripts/benchmark_smoothing.py`` (docs/trajectories.md): each beats
the raw error on every part, and none delays a fast movement by more than a frame at 24 fps.
"""
from typing import Dict, Optional, Sequence

import numpy as np

from signpose.engine.quality import part_key

# the stage's 85 keypoints (configs/extract_mmpose.py COCO_WHOLEBODY_IDX), in row order
STAGE_COCO_IDX = tuple([5, 6, 7, 8, 11, 12] + list(range(23, 40, 2)) + list(range(40, 50)) + [52, 54, 56, 58]
                       + [71, 73, 75, 77, 79, 81] + list(range(83, 91)) + list(range(91, 133)))
PARTS = ('torso', 'elbows', 'face', 'hands')
ELBOWS = (7, 8)  # COCO-WholeBody

# Savitzky-Golay: window (frames, odd) and polynomial order of the local fit, per part.
# One Euro: min_cutoff (Hz), beta (s per normalised unit), d_cutoff (Hz), per part.
DEFAULTS = {
    'savgol': {
        'torso': {'window': 13, 'polyorder': 2},
        'elbows': {'window': 5, 'polyorder': 2},
        'face': {'window': 9, 'polyorder': 2},
        'hands': {'window': 5, 'polyorder': 2},
    },
    'oneeuro': {
        'torso': {'min_cutoff': 1.0, 'beta': 20.0, 'd_cutoff': 1.0},
        'elbows': {'min_cutoff': 5.0, 'beta': 100.0, 'd_cutoff': 1.0},
        'face': {'min_cutoff': 3.0, 'beta': 50.0, 'd_cutoff': 1.0},
        'hands': {'min_cutoff': 8.0, 'beta': 200.0, 'd_cutoff': 1.0},
    },
}
DEFAULTS['oneeuro2'] = DEFAULTS['oneeuro']  # the forward-backward One Euro takes the same settings


def part_of(coco_index: int) -> str:
    """'torso', 'elbows', 'face' or 'hands' for a COCO-WholeBody index."""
    if int(coco_index) in ELBOWS:
        return 'elbows'
    key = part_key(int(coco_index))
    return {'body': 'torso', 'lhand': 'hands', 'rhand': 'hands'}.get(key, key)


def part_rows(coco_idx: Sequence[int] = STAGE_COCO_IDX) -> Dict[str, np.ndarray]:
    """Row positions of each part in an array whose rows are the COCO-WholeBody points ``coco_idx``."""
    rows = {part: [] for part in PARTS}
    for position, coco in enumerate(coco_idx):
        rows[part_of(coco)].append(position)
    return {part: np.asarray(positions, dtype=int) for part, positions in rows.items()}


def part_parameters(method: str, overrides: Optional[Dict[str, dict]] = None) -> Dict[str, dict]:
    """The settings of each part for ``method``: the defaults, updated by ``overrides``
    ({part: {name: value}}); an unknown part or setting is a ValueError."""
    if method not in DEFAULTS:
        raise ValueError(f'no per-part settings for method {method!r}')
    parameters = {part: dict(values) for part, values in DEFAULTS[method].items()}
    for part, values in (overrides or {}).items():
        if part not in parameters:
            raise ValueError(f'unknown part {part!r} (parts: {", ".join(PARTS)})')
        for name, value in values.items():
            if name not in parameters[part]:
                raise ValueError(f'{method} has no setting {name!r} (settings: {", ".join(parameters[part])})')
            parameters[part][name] = type(parameters[part][name])(value)
    if method == 'savgol':
        for part, values in parameters.items():
            if values['window'] < 3 or values['window'] % 2 == 0 or not 0 <= values['polyorder'] < values['window']:
                raise ValueError(f'{part}: savgol window must be odd and >= 3, polyorder in [0, window): {values}')
    else:
        for part, values in parameters.items():
            if min(values['min_cutoff'], values['d_cutoff']) <= 0 or values['beta'] < 0:
                raise ValueError(f'{part}: One Euro cutoffs must be > 0 and beta >= 0: {values}')
    return parameters
