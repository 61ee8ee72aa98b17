#!/usr/bin/env python
"""Check the stage 3b output against its contract: every .npy in NPY_DIR, plus the ledger.

    python scripts/3b_validate.py
    python scripts/3b_validate.py --cfg-options NPY_DIR=/data/npy CSV_FILE=/data/how2sign.tsv

Prints a summary (files, frames, frames without a person, mean visibility per body part,
failing files with their reasons, skipped / failed segments from the ledger).
Exit status: 0 all files pass, 1 some file breaks the contract, 2 the check cannot run.
"""
import sys

from signpose.cli.validate import main

if __name__ == '__main__':
    sys.exit(main())
