"""Inline SVG charts that read without hovering: axes with counts, every bar's count written, an
overflow bin that says so, labels sized to fit. They scale to the width of their box (viewBox),
so a screenshot or a printout shows what the screen shows."""
import html
import math
from typing import List, Optional, Sequence, Tuple

import numpy as np

BAR = '#3b6fb6'
RED = '#c62828'
OVER = '#e08a00'
GREY = '#888'


def nice_top(value: int) -> int:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value``."""
    if value <= 1:
        return 1
    power = 10 ** int(math.floor(math.log10(value)))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return int(math.ceil(step * power))
    return value


def short(count: int) -> str:
    """1234 -> '1,234'; 45678 -> '45.7k'; 1234567 -> '1.23M' (bar labels stay narrow)."""
    if count < 10_000:
        return f'{count:,}'
    if count < 1_000_000:
        return f'{count / 1000:.1f}k'
    return f'{count / 1e6:.2f}M'


def binned(values: Sequence[float], top: float, bins: int, overflow: bool) -> Tuple[List[int], int]:
    """(counts of ``bins`` equal bins over [0, top], the count above ``top``). Without ``overflow``
    the range is closed (a value of exactly ``top`` is in the last bin, none is above)."""
    v = np.asarray(values, dtype=np.float64)
    above = int(np.count_nonzero(v > top)) if overflow else 0
    if overflow:
        v = v[~(v > top)]
    # int() of each v / top * bins (truncation toward zero), clamped into [0, bins - 1]
    at = np.clip(np.trunc(v / top * bins), 0, bins - 1).astype(np.int64)
    return np.bincount(at, minlength=bins).tolist(), above


def histogram(values: Sequence[float], top: float, bins: int = 20, overflow: bool = False, xlabel: str = '',
              colour: str = BAR, width: int = 460, height: int = 210) -> str:
    """A histogram with its y axis (segments), x ticks, each bar's count above it, and the values
    above ``top`` (``overflow``) in their own labelled bar."""
    counts, above = binned(values, top, bins, overflow)
    left, right, top_pad, bottom = 46, 8, 16, 40
    slots = bins + (2.6 if overflow else 0)
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    step = plot_w / slots
    ymax = nice_top(max(counts + [above, 1]))
    e = html.escape
    out = [f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" class="chart" '
           f'aria-label="{e(xlabel)}" font-family="sans-serif">']
    for k in range(5):  # y axis: 0, 1/4, ..., ymax
        value = ymax * k / 4
        y = top_pad + plot_h - plot_h * k / 4
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                   f'<text x="{left - 4}" y="{y + 3.5:.1f}" font-size="10" text-anchor="end">'
                   f'{short(int(value)) if value == int(value) else f"{value:g}"}</text>')
    out.append(f'<text x="10" y="{top_pad + plot_h / 2:.0f}" font-size="10" text-anchor="middle" '
               f'transform="rotate(-90 10 {top_pad + plot_h / 2:.0f})">segments</text>')
    bars = [(i, c, colour) for i, c in enumerate(counts)] + ([(bins + 1.6, above, OVER)] if overflow else [])
    for at, count, fill in bars:
        h = plot_h * count / ymax
        x = left + at * step
        out.append(f'<rect x="{x + 0.8:.1f}" y="{top_pad + plot_h - h:.1f}" width="{step - 1.6:.1f}" '
                   f'height="{h:.1f}" fill="{fill}"><title>{count:,}</title></rect>')
        if count:
            out.append(f'<text x="{x + step / 2:.1f}" y="{top_pad + plot_h - h - 2:.1f}" font-size="10" '
                       f'text-anchor="middle">{short(count)}</text>')
    base = top_pad + plot_h
    out.append(f'<line x1="{left}" x2="{left + bins * step:.1f}" y1="{base}" y2="{base}" stroke="#333"/>'
               f'<line x1="{left}" x2="{left}" y1="{top_pad}" y2="{base}" stroke="#333"/>')
    for k in range(5):  # x ticks at 0, 1/4, ..., top
        x = left + bins * step * k / 4
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}" stroke="#333"/>'
                   f'<text x="{x:.1f}" y="{base + 14}" font-size="10" text-anchor="middle">{top * k / 4:g}</text>')
    if overflow:
        x = left + (bins + 1.6) * step + step / 2
        out.append(f'<text x="{x:.1f}" y="{base + 14}" font-size="10" text-anchor="middle" fill="{OVER}">'
                   f'&gt;{top:g}</text>')
    out.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 4}" font-size="11" text-anchor="middle">'
               f'{e(xlabel)}</text></svg>')
    return ''.join(out)


def hbars(items: Sequence[Tuple[str, int, Optional[str]]], width: int = 1000, anchor: Optional[Sequence[str]] = None) -> str:
    """Horizontal bars, one per (label, count, colour or None): the label left, the count right of
    its bar, inside the chart however long the bar (the longest bar leaves room for its count)."""
    e = html.escape
    label_w = min(560, 14 + 6.6 * max((len(label) for label, *_ in items), default=10))
    count_w = 80
    row = 22
    height = row * len(items) + 6
    top = max((c for _, c, _ in items), default=1) or 1
    bar_w = width - label_w - count_w
    out = [f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" class="chart hbars" font-family="sans-serif">']
    for i, (label, count, colour) in enumerate(items):
        y = row * i + 4
        w = max(1.0, bar_w * count / top) if count else 0
        text = e(label if len(label) <= 84 else label[:81] + '...')
        link = anchor[i] if anchor else None
        name = f'<a href="#{e(link)}">{text}</a>' if link else text
        out.append(f'<text x="0" y="{y + 13}" font-size="12">{name}</text>'
                   f'<rect x="{label_w:.0f}" y="{y}" width="{w:.1f}" height="16" fill="{colour or BAR}"/>'
                   f'<text x="{label_w + w + 5:.1f}" y="{y + 13}" font-size="12">{count:,}</text>')
    out.append('</svg>')
    return ''.join(out)
