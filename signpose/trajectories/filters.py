"""The filters, per keypoint and channel, on runs of frames in which the keypoint is present.

One Euro (Casiez, Roussel and Vogel, CHI 2012): a first-order low-pass filter whose cutoff rises
with the speed of the signal, ``cutoff = min_cutoff + beta * |speed|`` (speed: the derivative,
itself low-passed at ``d_cutoff``). At rest it smooths hard (``min_cutoff``), in a fast movement
it follows closely (``beta``). It is causal, so it lags a little; ``oneeuro2`` runs it forward,
then backward in time over the forward result (as scipy's filtfilt does for linear filters): the
backward pass's lead cancels the forward pass's lag, and the signal is smoothed twice.

Savitzky-Golay: a polynomial of order ``polyorder`` fitted to the ``window`` frames around each
frame (scipy.signal.savgol_filter; at the ends of a run the first and last window's fit is
evaluated, savgol_filter's ``mode='interp'``). Symmetric, so it never lags.

Confidence weighting (``weights``: per frame, from the visibility):
    Savitzky-Golay  a weighted least-squares fit: a frame of weight w counts w times. Equal
                    weights give savgol_filter's result exactly.
    One Euro        a frame of weight w moves the filter as if only w of a frame period had passed:
                    alpha = 1 / (1 + tau / (w * Te)). The odds alpha / (1 - alpha) scale with w,
                    which is the gain of a Kalman filter whose measurement variance is 1 / w.
"""
from typing import Optional

import numpy as np
from scipy.signal import savgol_filter

MIN_WEIGHT = 1e-3  # a weight is never 0: a window always has a solvable fit


def alpha(cutoff, period):
    """The smoothing factor of a first-order low-pass at ``cutoff`` Hz, sampled every ``period`` s."""
    tau = 1.0 / (2.0 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / period)


def one_euro(values: np.ndarray, active: np.ndarray, fps: float, min_cutoff: np.ndarray, beta: np.ndarray,
             d_cutoff: np.ndarray, weights: Optional[np.ndarray] = None) -> np.ndarray:
    """Causal One Euro filter of ``values`` (T, N, C), each point and channel on its own.

    ``active`` (T, N) bool: where the point is present; each run of active frames is filtered on
    its own (the filter restarts at the first frame of a run), inactive values are returned as
    they are. ``min_cutoff``, ``beta``, ``d_cutoff``: (N,) per point (or scalars); ``weights``
    (T, N) in (0, 1] or None.
    """
    values = np.asarray(values, dtype=np.float64)
    frames, points, _ = values.shape
    period = 1.0 / float(fps)
    min_cutoff, beta, d_cutoff = (np.broadcast_to(np.asarray(v, np.float64), (points,))[:, None]
                                  for v in (min_cutoff, beta, d_cutoff))
    out = values.copy()
    state = np.zeros(values.shape[1:])
    speed = np.zeros(values.shape[1:])
    previous = np.zeros(points, dtype=bool)
    for t in range(frames):
        now = active[t]
        x = values[t]
        w = np.ones((points, 1)) if weights is None else np.maximum(weights[t], MIN_WEIGHT)[:, None]
        step = period * w
        a_d = alpha(d_cutoff, step)
        new_speed = a_d * (x - state) / period + (1 - a_d) * speed
        a = alpha(min_cutoff + beta * np.abs(new_speed), step)
        new_state = a * x + (1 - a) * state
        start = now & ~previous  # a run begins: the filter starts at the measured value
        go_on = now & previous
        state[start], speed[start] = x[start], 0.0
        state[go_on], speed[go_on] = new_state[go_on], new_speed[go_on]
        out[t, now] = state[now]
        previous = now
    return out


def one_euro_forward_backward(values, active, fps, min_cutoff, beta, d_cutoff, weights=None) -> np.ndarray:
    """One Euro forward, then backward in time over the forward result: no net lag."""
    forward = one_euro(values, active, fps, min_cutoff, beta, d_cutoff, weights)
    backward = one_euro(forward[::-1], active[::-1], fps, min_cutoff, beta, d_cutoff,
                        None if weights is None else weights[::-1])
    return backward[::-1]


def savgol(values: np.ndarray, window: int, polyorder: int, weights: Optional[np.ndarray] = None) -> np.ndarray:
    """Savitzky-Golay smoothing of one run ``values`` (n, C) along time, weighted by ``weights``
    (n,) when given and not all equal. A run shorter than ``window`` gets the longest odd window
    it holds (its polynomial order at most window - 1); a run of fewer than 3 frames is returned
    as it is."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    window = min(int(window), n if n % 2 else n - 1)
    if window < 3:
        return values.copy()
    polyorder = min(int(polyorder), window - 1)
    if weights is None or np.ptp(weights) == 0:
        return savgol_filter(values, window, polyorder, axis=0, mode='interp')
    return weighted_savgol(values, np.maximum(weights, MIN_WEIGHT), window, polyorder)


def weighted_savgol(values: np.ndarray, weights: np.ndarray, window: int, polyorder: int) -> np.ndarray:
    """A weighted local polynomial fit per window position (n >= window), evaluated as
    savgol_filter(mode='interp') does: at the window's centre, and at the ends of the run by the
    first and last window's polynomial."""
    n, half = len(values), window // 2
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    basis = np.vander(offsets, polyorder + 1, increasing=True)  # (L, P)
    w = np.lib.stride_tricks.sliding_window_view(weights, window)  # (S, L)
    y = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)  # (S, C, L)
    normal = np.einsum('sl,li,lj->sij', w, basis, basis)
    right = np.einsum('sl,li,scl->sic', w, basis, y)
    try:
        coef = np.linalg.solve(normal, right)  # (S, P, C)
    except np.linalg.LinAlgError:
        coef = np.stack([np.linalg.lstsq(m, r, rcond=None)[0] for m, r in zip(normal, right)])
    t = np.arange(n)
    s = np.clip(t - half, 0, n - window)
    at = np.vander((t - s - half).astype(np.float64), polyorder + 1, increasing=True)  # (n, P)
    return np.einsum('np,npc->nc', at, coef[s])
