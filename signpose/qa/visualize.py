"""Draw one segment's saved landmarks over its video frames, for a person to judge by eye.

The frames are those the stage sampled (same manifest row, same sampler), so row i of the
.npy is drawn on the i-th sampled frame. Writes into NPY_DIR/viz (or --out):
    {SENTENCE}.mp4          every sampled frame with its landmarks, its frame number and time, in
                            H.264 (yuv420p, even size: browsers play it; VP9 .webm when the
                            FFmpeg at hand has no libx264)
    {SENTENCE}_sheet.png    a contact sheet of evenly spaced frames, labelled with frame and time
    {SENTENCE}_wrist_z.png  root-relative depth of both wrists over time

A segment decided by MULTI_PERSON = 'largest' or 'signer' has a persons file
(NPY_DIR/persons/{SENTENCE}.json, output/persons.py): on the video and the sheet every other
person's box is drawn in grey and the kept person's in colour, so the choice can be checked at a
glance; the sheet's legend gives the mode and the scores.

``--compare DIR`` draws a processed copy of the segment (DIR/{SENTENCE}.npy, e.g. written by
scripts/3b_smooth.py) over the raw landmarks, in one colour (COMPARE: cyan), so the two can be
told apart frame by frame.

A segment refined by the hand pass has an audit file (NPY_DIR/hands/{SENTENCE}.json,
output/hands.py): each hand's box is drawn in the hand's colour and every point the hand model
placed (the refined points) is ringed in yellow, so that the refined hands can be compared with the
video and with the points the whole-body model kept.
"""
import math
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import cv2
import numpy as np

from signpose.config import Options
from signpose.data.locate import SegmentVideos
from signpose.data.manifest import ManifestError
from signpose.data.sampling import sample_frames
from signpose.data.video import read_frames
from signpose.output.files import load_array
from signpose.output.hands import SIDES, hands_path, read_hands, replaced_points
from signpose.output.persons import persons_path, read_persons
from signpose.qa.validate import PARTS, part_of

# BGR colours per part, picked to stay apart on skin and on typical studio backgrounds
COLOURS = {'body': (0, 200, 255), 'face': (235, 235, 235), 'left hand': (60, 220, 60),
           'right hand': (255, 110, 40)}
LEFT_WRIST, RIGHT_WRIST = 91, 112  # COCO-WholeBody indices of the hand roots
TILE_WIDTH = 360  # px, a contact-sheet frame
OTHER_PERSON = (150, 150, 150)  # BGR: the boxes of the persons not kept (MULTI_PERSON)
KEPT_PERSON = (255, 0, 255)  # BGR magenta: the box of the person whose landmarks were saved
COMPARE = (255, 255, 0)  # BGR cyan: the processed copy drawn with --compare
REFINED = (0, 255, 255)  # BGR yellow: a ring around each hand point the hand model placed


def hand_pairs(wrist: int) -> List[Tuple[int, int]]:
    """COCO-WholeBody hand: the wrist, then 4 points per finger (thumb first), root to tip."""
    pairs = []
    for finger in range(5):
        chain = [wrist] + [wrist + 1 + 4 * finger + k for k in range(4)]
        pairs += list(zip(chain[:-1], chain[1:]))
    return pairs


# in COCO-WholeBody indices; pairs with a keypoint not in the output are dropped
SKELETON = ([(5, 6), (5, 7), (6, 8), (5, 11), (6, 12), (11, 12),  # shoulders, upper arms, torso
             (7, LEFT_WRIST), (8, RIGHT_WRIST)]                   # elbow to the hand's wrist point
            + hand_pairs(LEFT_WRIST) + hand_pairs(RIGHT_WRIST))


class VizError(RuntimeError):
    """What the visualiser needs is missing (one line for the console)."""


# (encoder, container suffix): H.264 first (every browser), VP9 when libx264 is missing
ENCODERS = (('libx264', '.mp4'), ('libvpx-vp9', '.webm'))


class OverlayWriter:
    """Frames (BGR) into a video a browser plays: H.264 in MP4 (yuv420p, even width and height,
    the index at the front: +faststart), or VP9 in WebM; at ``fps`` (any rate: a rational time base)."""

    def __init__(self, stem: Path, width: int, height: int, fps: float):
        import fractions

        import av
        self.width, self.height = width + width % 2, height + height % 2
        rate = fractions.Fraction(fps).limit_denominator(1001)
        last = None
        for codec, suffix in ENCODERS:
            try:
                av.codec.Codec(codec, 'w')
            except Exception as err:  # this FFmpeg has no such encoder
                last = err
                continue
            self.path = stem.with_suffix(suffix)
            options = {'movflags': '+faststart'} if suffix == '.mp4' else {}
            self.container = av.open(str(self.path), 'w', options=options)
            self.stream = self.container.add_stream(codec, rate=rate)
            self.stream.width, self.stream.height, self.stream.pix_fmt = self.width, self.height, 'yuv420p'
            if codec == 'libx264':
                self.stream.options = {'crf': '23', 'preset': 'veryfast'}
            elif codec == 'libvpx-vp9':
                self.stream.options = {'crf': '32', 'b': '0', 'deadline': 'realtime', 'cpu-used': '8'}
            self.codec = codec
            self.frames = 0
            return
        raise VizError(f'no H.264 or VP9 encoder in this PyAV ({last})')

    def write(self, image: np.ndarray) -> None:
        import av
        if image.shape[0] != self.height or image.shape[1] != self.width:
            image = cv2.copyMakeBorder(image, 0, self.height - image.shape[0], 0, self.width - image.shape[1],
                                       cv2.BORDER_CONSTANT, value=(0, 0, 0))
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format='bgr24')
        frame.pts = self.frames
        self.frames += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


class Drawer:
    """Draws rows of the output contract on images of any size (coordinates are normalised)."""

    def __init__(self, options: Options):
        idx = list(options.output.rows.keypoints)
        position = {c: p for p, c in enumerate(idx)}
        self.colours = [COLOURS[part_of(c)] for c in idx]
        self.lines = [(position[a], position[b], COLOURS[part_of(b)])
                      for a, b in SKELETON if a in position and b in position]
        self.kpt_thr = options.engine.persons.kpt_thr
        self.position = position

    def draw(self, image: np.ndarray, row: np.ndarray, colour=None) -> np.ndarray:
        """The row's skeleton in the part colours, or all in ``colour`` (a second copy, --compare)."""
        h, w = image.shape[:2]
        scale = max(1, round(min(w, h) / 240))  # lines stay visible from 160 px to 4K
        if not np.any(row):
            if colour is None:
                label(image, 'no person', corner='top')
            return image
        shown = row[:, 3] >= self.kpt_thr if row.shape[1] >= 4 else np.ones(len(row), bool)
        xy = np.clip(row[:, :2], 0.0, 1.0) * (w, h)  # out-of-range files are drawn at the border
        points = np.minimum(xy, (w - 1, h - 1)).astype(int)
        one_colour = colour
        for a, b, colour in self.lines:
            if shown[a] and shown[b]:
                cv2.line(image, tuple(points[a]), tuple(points[b]), colour if one_colour is None else one_colour,
                         scale, cv2.LINE_AA)
        for p in np.flatnonzero(shown):
            cv2.circle(image, tuple(points[p]), scale + 1, self.colours[p] if one_colour is None else one_colour,
                       -1, cv2.LINE_AA)
        return image

    def draw_hands(self, image: np.ndarray, row: np.ndarray, record: dict, i: int, factor: float = 1.0) -> np.ndarray:
        """The hand pass of frame ``i`` (an audit file's ``record``): each hand's box in its colour,
        a yellow ring round each point the hand model placed."""
        h, w = image.shape[:2]
        scale = max(1, round(min(w, h) / 240))
        for side in SIDES:
            hand = record[side]
            if i >= len(hand['boxes']):
                continue
            colour = COLOURS[f'{side} hand']
            if hand['boxes'][i] is not None:
                x1, y1, x2, y2 = (int(round(v * factor)) for v in hand['boxes'][i])
                cv2.rectangle(image, (x1, y1), (x2, y2), colour, 1, cv2.LINE_8)
            first = LEFT_WRIST if side == 'left' else RIGHT_WRIST
            for k in replaced_points(hand['replaced'][i]):
                p = self.position.get(first + k)
                if p is not None and np.any(row):
                    x, y = (np.clip(row[p, :2], 0.0, 1.0) * (w, h)).astype(int)
                    cv2.circle(image, (min(x, w - 1), min(y, h - 1)), scale + 3, REFINED, 1, cv2.LINE_AA)
        return image


def draw_with_comparison(drawer: Drawer, image: np.ndarray, row: np.ndarray, processed=None) -> np.ndarray:
    """The raw row, and over it the processed copy's row (``processed``, or None) in COMPARE."""
    drawer.draw(image, row)
    if processed is not None:
        drawer.draw(image, processed, colour=COMPARE)
    return image


def load_comparison(compare_dir, sentence: str, frames: int, points: int) -> np.ndarray:
    """The processed copy DIR/{sentence}.npy, as many rows as the raw one; a VizError when it is
    missing or not of the raw file's shape."""
    path = Path(compare_dir) / f'{sentence}.npy'
    if not path.is_file():
        raise VizError(f'no processed copy to compare: {path} does not exist')
    return np.nan_to_num(load_rows(path, points, frames).astype(np.float32))


def load_rows(path: Path, points: int, frames: Optional[int] = None) -> np.ndarray:
    """The rows of a .npy as the stage writes them, (T, points, 4 or 3) (T = ``frames`` when given:
    a processed copy of a raw file); a VizError naming the file when it is not."""
    try:
        rows = load_array(path)
    except ValueError as err:
        raise VizError(f'{path} {err}') from None
    if rows.ndim != 3 or rows.shape[1] != points or rows.shape[2] not in (3, 4) or \
            (frames is not None and rows.shape[0] != frames):
        raise VizError(f'{path} has shape {rows.shape}, not ' +
                       (f'(T, {points}, 4 or 3)' if frames is None else f'({frames}, {points}, 4 or 3) as the raw file'))
    return rows


def draw_persons(image: np.ndarray, boxes, chosen, factor: float = 1.0) -> np.ndarray:
    """The persons of one frame (a persons file's ``boxes`` and ``chosen``, in pixels of the video
    frame, times ``factor`` for a resized image): the others in grey, the kept one in colour."""
    h, w = image.shape[:2]
    thick = max(1, round(min(w, h) / 240))
    order = [i for i in range(len(boxes)) if i != chosen] + ([chosen] if chosen is not None else [])
    for i in order:  # the kept box last: on top
        x1, y1, x2, y2 = (int(round(v * factor)) for v in boxes[i])
        kept = i == chosen
        cv2.rectangle(image, (x1, y1), (x2, y2), KEPT_PERSON if kept else OTHER_PERSON,
                      2 * thick if kept else thick, cv2.LINE_8)
    return image


def persons_note(record: dict) -> str:
    """One line for the sheet: the mode and, for 'signer', the scores of the choice."""
    audit = record.get('selection') or {}
    note = f"MULTI_PERSON {record.get('mode', '?')}: kept person in magenta, others grey"
    if audit.get('score') is not None:
        note += f"; score {audit['score']:.3f}"
        if audit.get('runner_up') is not None:
            note += f", runner-up {audit['runner_up']:.3f}"
        note += f" ({audit.get('tracks', '?')} tracks)"
    return note


def label(image: np.ndarray, text: str, corner: str = 'bottom') -> None:
    """White text on a dark band, sized to the image."""
    h, w = image.shape[:2]
    size = max(0.35, min(w, h) / 500)
    thick = max(1, round(size * 2))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, size, thick)
    y = h - base - 3 if corner == 'bottom' else th + 3
    cv2.rectangle(image, (0, y - th - 3), (min(w, tw + 6), y + base + 2), (0, 0, 0), -1)
    cv2.putText(image, text, (3, y), cv2.FONT_HERSHEY_SIMPLEX, size, (255, 255, 255), thick, cv2.LINE_AA)


def legend(width: int, options: Options) -> np.ndarray:
    """A strip naming the colours (and the visibility threshold) for the top of the sheet."""
    strip = np.zeros((28, width, 3), np.uint8)
    x = 6
    for part in PARTS:
        cv2.circle(strip, (x + 5, 14), 5, COLOURS[part], -1, cv2.LINE_AA)
        cv2.putText(strip, part, (x + 14, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        x += 24 + cv2.getTextSize(part, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)[0][0]
    cv2.putText(strip, f'hidden: visibility < {options.engine.persons.kpt_thr}', (x + 6, 19), cv2.FONT_HERSHEY_SIMPLEX,
                0.45, (160, 160, 160), 1, cv2.LINE_AA)
    return strip


def contact_sheet(tiles: List[np.ndarray], options: Options, note: str = '') -> np.ndarray:
    """Tiles (all TILE_WIDTH wide) in a grid of at most 4 columns, under the colour legend (and
    ``note``, a line about the persons, when there is one)."""
    tile_h, tile_width = tiles[0].shape[:2]
    rows = math.ceil(len(tiles) / 4)
    cols = math.ceil(len(tiles) / rows)  # balanced: 6 frames are 3 x 2, not 4 + 2
    grid = np.zeros((rows * tile_h, cols * tile_width, 3), np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        grid[r * tile_h:(r + 1) * tile_h, c * tile_width:(c + 1) * tile_width] = tile
    strips = [legend(grid.shape[1], options)]
    if note:
        strip = np.zeros((22, grid.shape[1], 3), np.uint8)
        cv2.putText(strip, note, (6, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
        strips.append(strip)
    return np.vstack(strips + [grid])


def wrist_plot(path: Path, rows: np.ndarray, times: np.ndarray, options: Options, title: str) -> None:
    """z of both wrists over time; frames without a person are gaps (NaN), not zeros."""
    from matplotlib.figure import Figure  # Agg canvas: no display, no global pyplot state
    idx = list(options.output.rows.keypoints)
    person = np.any(rows != 0, axis=(1, 2))
    fig = Figure(figsize=(8, 3.2), dpi=100)
    ax = fig.add_subplot()
    for coco, part in ((LEFT_WRIST, 'left hand'), (RIGHT_WRIST, 'right hand')):
        if coco not in idx:
            continue
        z = np.where(person, rows[:, idx.index(coco), 2], np.nan)
        b, g, r = COLOURS[part]
        ax.plot(times, z, '.-', color=(r / 255, g / 255, b / 255), label=f'{part.split()[0]} wrist')
    ax.set_xlabel('time in the video (s)')
    ax.set_ylabel('z, root-relative (m)')
    ax.set_title(f'{title}: wrist depth ({int((~person).sum())} of {len(rows)} frames without a person)')
    ax.grid(alpha=0.3)
    ax.legend(loc='best')
    fig.tight_layout()
    fig.savefig(str(path))


def locate(options: Options, sentence: str):
    """(segment, rows, video info) of a sentence, or a VizError saying what is missing."""
    videos = SegmentVideos(options.manifest, options.video_dir, options.sampling.video_backend)
    try:
        segment = videos.segment(sentence)
    except ManifestError as err:
        raise VizError(str(err)) from None
    if segment is None:
        raise VizError(f'sentence {sentence!r} is not in the manifest {options.manifest}')
    npy = Path(options.output.folder) / f'{sentence}.npy'
    if not npy.is_file():
        raise VizError(f'no landmarks for {sentence!r}: {npy} does not exist (see the ledger in NPY_DIR)')
    rows = load_rows(npy, len(options.output.rows.keypoints))
    video = videos.video(segment.video_name)
    if video.info is None:
        raise VizError(video.problem)
    return segment, np.nan_to_num(rows.astype(np.float32)), video.info, video.timeline


def visualize(options: Options, sentence: str, out_dir=None, sheet_frames: int = 8, compare_dir=None) -> List[Path]:
    segment, rows, info, timeline = locate(options, sentence)
    processed = None if compare_dir is None else load_comparison(compare_dir, sentence, *rows.shape[:2])
    frame_times = timeline.times if timeline is not None else None
    indices = sample_frames(info.fps, segment.start, segment.end, options.sampling.fps, options.sampling.frame_skip,
                            frame_times)
    if len(rows) != len(indices):
        print(f'WARNING: {len(rows)} saved frames but {len(indices)} sampled frames; '
              f'drawing the first {min(len(rows), len(indices))}', file=sys.stderr)
    indices = indices[:len(rows)]
    out = Path(out_dir) if out_dir else Path(options.output.folder) / 'viz'
    out.mkdir(parents=True, exist_ok=True)
    # the sampled rate, so the clip plays at the speed of the video
    fps = options.sampling.fps or info.fps / max(1, options.sampling.frame_skip)
    try:
        writer = OverlayWriter(out / sentence, info.width, info.height, min(fps, info.fps))
    except (OSError, ValueError) as err:
        raise VizError(f'cannot write the overlay video in {out}: {err}') from None
    paths = [writer.path, out / f'{sentence}_sheet.png', out / f'{sentence}_wrist_z.png']
    for stale in ENCODERS:  # an overlay of the other kind, from an earlier run, would be shown instead
        other = (out / sentence).with_suffix(stale[1])
        if other != writer.path and other.exists():
            other.unlink()
    on_sheet = set(np.linspace(0, len(indices) - 1, max(1, min(sheet_frames, len(indices)))).round().astype(int))
    drawer, tiles, written = Drawer(options), [], 0
    try:
        persons = read_persons(persons_path(options.output.folder, sentence))
    except ValueError as err:
        print(f'WARNING: {err}; the persons\' boxes are not drawn', file=sys.stderr)
        persons = None
    if persons is not None and len(persons['boxes']) < len(indices):
        print(f"WARNING: the persons file has {len(persons['boxes'])} frames, the .npy {len(indices)}",
              file=sys.stderr)

    def boxes_of(i):
        if persons is None or i >= len(persons['boxes']):
            return [], None
        return persons['boxes'][i], persons['chosen'][i]

    def time_of(index):
        return float(frame_times[index]) if frame_times is not None else index / info.fps

    try:
        hands = read_hands(hands_path(options.output.folder, sentence))
    except ValueError as err:
        print(f'WARNING: {err}; the hand boxes are not drawn', file=sys.stderr)
        hands = None

    def with_hands(image, i, factor=1.0):
        return drawer.draw_hands(image, rows[i], hands, i, factor) if hands is not None else image

    try:
        for i, (index, frame) in enumerate(read_frames(info, indices, timeline)):
            if i in on_sheet:  # drawn after resizing, so thin lines survive a 4K -> 360 px reduction
                tile = cv2.resize(frame, (TILE_WIDTH, max(1, round(info.height * TILE_WIDTH / info.width))),
                                  interpolation=cv2.INTER_AREA)
                draw_persons(tile, *boxes_of(i), factor=TILE_WIDTH / info.width)
                with_hands(draw_with_comparison(drawer, tile, rows[i], None if processed is None else processed[i]),
                           i, TILE_WIDTH / info.width)
                label(tile, f'frame {index}  {time_of(index):.2f} s  (row {i})')
                tiles.append(tile)
            drawn = with_hands(draw_with_comparison(drawer, draw_persons(frame, *boxes_of(i)), rows[i],
                                                    None if processed is None else processed[i]), i)
            label(drawn, f'frame {index}  {time_of(index):.2f} s  (row {i} of {len(rows)})')
            writer.write(drawn)
            written += 1
    finally:
        writer.close()
    if written < len(indices):
        print(f'WARNING: the video ended after {written} of {len(indices)} frames', file=sys.stderr)
    if not tiles:
        raise VizError(f'no frame of {info.path} could be read for {sentence!r}')
    notes = [persons_note(persons)] if persons else []
    if hands is not None:
        notes.append('hand pass: hand boxes drawn, refined points ringed in yellow')
    if processed is not None:
        notes.append(f'cyan: the processed copy in {compare_dir}')
    cv2.imwrite(str(paths[1]), contact_sheet(tiles, options, '; '.join(notes)))
    times = np.asarray([time_of(i) for i in indices], dtype=float)
    wrist_plot(paths[2], rows[:len(times)], times, options, sentence)
    return paths

