#!/usr/bin/env python
"""Convert the stage's .npy files to .pose files (pose-format), one beside each .npy (or into --out).

    python scripts/3b_npy_to_pose.py                      # every .npy in NPY_DIR
    python scripts/3b_npy_to_pose.py /data/npy --out /data/pose
    python scripts/3b_npy_to_pose.py a.npy b.npy --width 1280 --height 720
    python scripts/3b_npy_to_pose.py --cfg-options NPY_DIR=/data/npy VIDEO_DIR=/data/videos

A .pose file holds pixels, so each file needs its frame size: --width and --height for all files,
else the size of its video in VIDEO_DIR (the video is named by the ledger beside the .npy, or by
the manifest CSV_FILE). The frame rate: --fps, else the rate the stage sampled the video at
(REDUCE_FPS_TO, 24, or less for a slower video). The .pose keeps the file's 85 points (see
signpose/pose_file.py). Existing .pose files are kept unless --overwrite.
Exit status: 0 every file converted or already there, 1 some file could not be converted,
2 the run cannot start.
"""
import sys

from signpose.output.convert import main

if __name__ == '__main__':
    sys.exit(main())
