#!/usr/bin/env python
"""Download the detector and pose checkpoints that configs/extract_mmpose.py names.

    python scripts/download_models.py                 # DET_ and POSE_MODEL_CHECKPOINT
    python scripts/download_models.py --trust FILE    # trust a checkpoint you got elsewhere

Each file is checked against the SHA-256 prefix in its official name and written atomically.
"""
import sys

from signpose.cli.download import main

if __name__ == '__main__':
    sys.exit(main())
