"""Decoding speed per backend and codec: frames/s of the stage's own reading code.

    python scripts/benchmark_decode.py                      # 640x480 and 1280x720, 10 s each, 30 fps
    python scripts/benchmark_decode.py --sizes 1920x1080 --seconds 4

For every codec and container a download yields it encodes a test video (FFmpeg's encoders,
through PyAV), then times ``read_frames`` decoding every frame to an upright BGR array with each
backend that can read it, the timeline pass PyAV makes first (packets only), and how far the
two backends' pixels differ.
"""
import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from signpose.data.video import VideoError, probe, read_frames, read_timeline

CODECS = [('libx264', 'mp4'), ('libx265', 'mp4'), ('libvpx-vp9', 'webm'), ('libsvtav1', 'mp4'),
          ('libsvtav1', 'webm')]


def encode(path, codec, frames, fps, width, height):
    """A moving figure on a textured background; a keyframe every 2 s (as YouTube's streams)."""
    import av
    rng = np.random.default_rng(0)
    background = rng.integers(0, 120, (height, width, 3), dtype=np.uint8)
    with av.open(str(path), 'w') as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, 'yuv420p'
        stream.options = {'svtav1-params': f'keyint={2 * fps}', 'preset': '10'} if codec == 'libsvtav1' \
            else {'g': str(2 * fps)}
        for i in range(frames):
            image = background.copy()
            x = (i * 7) % (width // 2)
            image[height // 4:3 * height // 4, x:x + width // 4] = (60, 90, 150)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format='bgr24')))
        container.mux(stream.encode())


def time_backend(path, backend, frames):
    """(frames/s decoding every frame, seconds of the timeline pass, the frames) or None."""
    try:
        info = probe(path, backend)
    except VideoError as err:
        return None, str(err)
    start = time.perf_counter()
    timeline = read_timeline(info)
    timeline_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = [frame for _, frame in read_frames(info, range(frames), timeline)]
    seconds = time.perf_counter() - start
    return (len(decoded) / seconds, timeline_s, decoded), ''


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', nargs='+', default=['640x480', '1280x720'])
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--fps', type=int, default=30)
    args = parser.parse_args()
    frames = int(args.seconds * args.fps)
    print(f'{frames} frames per video at {args.fps} fps; frames/s of read_frames (decode + upright BGR)')
    print(f'{"size":<10} {"codec":<12} {"container":<9} {"pyav f/s":>9} {"opencv f/s":>10} '
          f'{"timeline s":>10} {"max |pyav-opencv|":>18}')
    with tempfile.TemporaryDirectory(prefix='benchmark_decode_') as work:
        for size in args.sizes:
            width, height = (int(v) for v in size.split('x'))
            for codec, ext in CODECS:
                path = Path(work) / f'{codec}_{size}.{ext}'
                encode(path, codec, frames, args.fps, width, height)
                pyav, _ = time_backend(path, 'pyav', frames)
                opencv, why = time_backend(path, 'opencv', frames)
                if pyav and opencv:
                    diff = max(int(np.abs(a.astype(np.int16) - b).max()) for a, b in zip(pyav[2], opencv[2]))
                    same = f'{diff}' if len(pyav[2]) == len(opencv[2]) else 'frame counts differ'
                else:
                    same = '-'
                print(f'{size:<10} {codec.replace("lib", ""):<12} {ext:<9} '
                      f'{pyav[0] if pyav else 0:9.0f} {f"{opencv[0]:.0f}" if opencv else "cannot":>10} '
                      f'{pyav[1] if pyav else 0:10.3f} {same:>18}')


if __name__ == '__main__':
    main()
