"""A run folder with the faults a curator must find on the report's page, planted on top of the
end-to-end run (conftest's ``first_run``): a second run with another pose checkpoint and BBOX_THR
(another provenance group) that writes a truncated segment, a frozen-pose file, failed segments,
bad and duplicate manifest rows, rows never processed, an unreadable run record, a cut ledger line.
Seeded weights everywhere: every checkpoint is not the official file its link names."""
import json
import shutil
import time
from pathlib import Path

import numpy as np

from conftest import MANIFEST_ROWS, RTMW3D_L, options, run_stage

FROZEN = 'v30_b'  # its file is replaced by one row repeated
TRUNCATED = 'v30_late'  # 2.2-3.2 s of a 2.5 s video
FAILED = {'v25_oom': 'RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB',
          'v25_died': 'worker died: killed by SIGKILL (out of memory?)'}
NEVER = ['later_1', 'later_2', 'later_3']
DUPLICATE = 'v30_a'


def plant(data: Path, first_npy: Path, work: Path) -> dict:
    """The planted folder and manifest: {'npy', 'manifest', 'second'}."""
    from tests.support.seeded_weights import make_seeded_checkpoint
    npy = work / 'npy'
    shutil.copytree(first_npy, npy)
    # the second run: another pose checkpoint (another seed) under the official name, BBOX_THR 0.05
    other = work / 'checkpoints'
    other.mkdir()
    make_seeded_checkpoint('pose', RTMW3D_L, other / 'rtmw3d-l.pth', salt=7)
    second_manifest = work / 'second.tsv'
    second_manifest.write_text('VIDEO_NAME\tSENTENCE_NAME\tSTART\tEND\n' + f'v30\t{TRUNCATED}\t2.2\t3.2\n')
    result = run_stage(options(data, npy, CSV_FILE=second_manifest, POSE_MODEL_CHECKPOINT=other / 'rtmw3d-l.pth',
                               BBOX_THR=0.05))
    assert result.returncode == 0, result.stdout + result.stderr
    # the frozen pose: one row of the file, repeated
    rows = np.load(npy / f'{FROZEN}.npy')
    person = np.flatnonzero(np.any(rows != 0, axis=(1, 2)))
    np.save(npy / f'{FROZEN}.npy', np.repeat(rows[person[0]:person[0] + 1], len(rows), axis=0))
    # failed segments, and a ledger line cut by a crash
    with open(npy / 'ledger.jsonl', 'a') as f:
        for name, reason in FAILED.items():
            f.write(json.dumps(dict(sentence=name, video='v25', status='failed', reason=reason, frames=0, path='',
                                    reader='pyav mpeg4', time=time.time())) + '\n')
        f.write('{"sentence": "cut_by_a_crash", "vid')
    (npy / 'runs' / 'broken-record.json').write_text('{"run": "broken-rec')
    # the manifest the curator reports against: the run's rows, the second run's, the failed ones,
    # a duplicate name and rows never processed
    manifest = work / 'manifest.tsv'
    rows = MANIFEST_ROWS + [f'v30\t{TRUNCATED}\t2.2\t3.2'] + [f'v25\t{name}\t0\t1' for name in FAILED] + \
        [f'v30\t{DUPLICATE}\t1\t2'] + [f'v25\t{name}\t0\t1' for name in NEVER]
    manifest.write_text('VIDEO_NAME\tSENTENCE_NAME\tSTART\tEND\n' + '\n'.join(rows) + '\n')
    return dict(npy=npy, manifest=manifest, second=result)
