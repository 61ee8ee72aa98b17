"""Stage 3b settings: 3D whole-body landmarks with RTMDet + RTMW3D (mmdet / mmpose).

Plain constants, read by scripts/3b_extract_mmpose.py (and the validation and visualisation
scripts). Any of them can be overridden for one run:
    python scripts/3b_extract_mmpose.py --cfg-options CSV_FILE=/data/my.csv BBOX_THR=0.5
"""
import os
from pathlib import Path

# ---------------------------------------------------------------- paths
ROOT = str(Path(__file__).resolve().parents[1])   # project root, found from this file
VIDEO_DIR = f'{ROOT}/dataset/origin'              # {VIDEO_NAME}.mp4 / .mkv / .webm
NPY_DIR = f'{ROOT}/dataset/npy'                   # output: {SENTENCE_NAME}.npy (+ the ledger)
CSV_FILE = f'{ROOT}/assets/youtube_asl.csv'       # tab-separated caption manifest

# ---------------------------------------------------------------- frame sampling
REDUCE_FPS_TO = 24.0                     # keep ~24 frames per second; None: use FRAME_SKIP
FRAME_SKIP = 1                           # with REDUCE_FPS_TO = None: every n-th frame
ACCEPT_VIDEO_FPS_WITHIN = (24.0, 60.0)   # videos with another frame rate are skipped
MIN_SEGMENT_SECONDS = 0.2                # shorter segments are skipped
MAX_SEGMENT_SECONDS = 60.0               # longer segments are skipped
VIDEO_BACKEND = 'auto'                   # decoder: 'auto' (PyAV: H.264, HEVC, VP9, AV1, variable frame
                                         # rates, exact seeking), 'pyav', or 'opencv' (no AV1; the frame
                                         # rate is taken as constant)

# ---------------------------------------------------------------- workers
MAX_WORKERS = 1          # worker processes (local) or actors per GPU (ray); each loads both models once.
                         # A worker that dies (killed, a segfault, out of memory) fails the rest of its
                         # video only; a new one takes its place and the run goes on
CPU_THREADS = None       # torch threads per worker on CPU; None: the cores divided among MAX_WORKERS.
                         # Ray actors without a GPU each take this many CPUs. Outputs are
                         # bit-identical across executors for equal CPU_THREADS (the last bits
                         # of float results depend on how work is split between threads).
EXECUTOR = 'local'       # 'local' (MAX_WORKERS worker processes, 1 included), 'ray', or 'inline': the
                         # stage's own process, no worker (for debugging: pdb, profilers; MAX_WORKERS = 1;
                         # a crash there ends the run)
RETRY_CRASHED = False    # True: also process the videos the stage itself died on in two runs (they
                         # are skipped otherwise, so one bad video cannot crash every rerun)
RAY_ADDRESS = None       # None: start a local Ray; 'auto' or 'ray://host:10001': join a cluster
# Slurm job arrays split the work by video into balanced shards automatically.
NUM_SHARDS = int(os.environ.get('SLURM_ARRAY_TASK_COUNT', 1))
SHARD_INDEX = int(os.environ.get('SLURM_ARRAY_TASK_ID', 0)) - int(os.environ.get('SLURM_ARRAY_TASK_MIN', 0))

# ---------------------------------------------------------------- models
DET_MODEL_CONFIG = f'{ROOT}/models/configs/rtmdet_m_8xb32-300e_coco.py'
DET_MODEL_CHECKPOINT = f'{ROOT}/models/checkpoints/rtmdet_m.pth'
DET_MODEL_CHECKPOINT_LINK = ('https://download.openmmlab.com/mmdetection/v3.0/rtmdet/rtmdet_m_8xb32-300e_coco/'
                             'rtmdet_m_8xb32-300e_coco_20220719_112220-229f527c.pth')
POSE_MODEL_CONFIG = f'{ROOT}/models/configs/rtmw3d-l_8xb64_cocktail14-384x288.py'
POSE_MODEL_CHECKPOINT = f'{ROOT}/models/checkpoints/rtmw3d-l.pth'
POSE_MODEL_CHECKPOINT_LINK = ('https://download.openmmlab.com/mmpose/v1/wholebody_3d_keypoint/rtmw3d/'
                              'rtmw3d-l_8xb64_cocktail14-384x288-794dbc78_20240626.pth')
# The hand pass (docs/hands.md): each hand of the kept person cut from the frame at its own resolution
# and estimated again by a dedicated 21-keypoint hand model; a hand point's x, y are the hand model's
# where it is more confident. None: no hand pass (the outputs are exactly those without it).
# Recommended: RTMPose-m hand5 256x256, f'{ROOT}/models/configs/rtmpose-m_8xb256-210e_hand5-256x256.py'
HAND_MODEL_CONFIG = None
HAND_MODEL_CHECKPOINT = f'{ROOT}/models/checkpoints/rtmpose-m_hand5.pth'
HAND_MODEL_CHECKPOINT_LINK = ('https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/'
                              'rtmpose-m_simcc-hand5_pt-aic-coco_210e-256x256-74fb594_20230320.pth')

# ---------------------------------------------------------------- detection and pose
ADD_VISIBLE = True   # save (x, y, z, visibility); False: (x, y, z)
BBOX_THR = 0.3       # a detection of DET_CAT_ID with a higher score is a person
KPT_THR = 0.3        # for drawing only: saved values are never thresholded
DET_CAT_ID = 0       # the person class of the detector (0 in COCO)
MULTI_PERSON = 'skip'  # a segment in which some frame shows more than one person: 'skip' it whole;
                       # 'largest': keep the largest box of each frame; 'signer': link the boxes into
                       # tracks and keep the person whose hands move the most (a heuristic on the
                       # model's keypoints, recorded in the ledger: docs/running.md)
DEVICE = 'cuda:0'    # falls back to 'cpu' with a warning when CUDA is not available. With MAX_WORKERS > 1
                     # on several GPUs, worker i uses GPU i mod n; a list (['cuda:0', 'cuda:2']) is cycled

# ---------------------------------------------------------------- engine
DET_BATCH_SIZE = None    # frames per detector call; None: 1 on CPU (fastest there), 16 on CUDA
POSE_BATCH_SIZE = None   # person crops per pose call; None: 2 on CPU, 64 on CUDA
DECODE_QUEUE_MB = 512    # decoded frames buffered ahead of inference, in MiB per worker (bounds memory
                         # whatever the frame size: 1080p is 6 MiB a frame, 8K 95 MiB); a single frame
                         # larger than this is still decoded, one at a time
DECODE_QUEUE = 64        # and at most this many frames
HOST_THREADS = None      # prepare frames and crops in threads beside the networks; None: on CUDA only
                         # (on the CPU the networks use every core, and such threads slow them)
PRECISION = 'fp32'       # 'fp32' (exact); opt-in: 'fp16' (CUDA autocast) or 'bf16' (CPU autocast)
BACKEND = 'pytorch'      # runs the two networks: 'pytorch', or on the CPU 'onnxruntime' / 'openvino'
                         # (faster there; after WITH_RUNTIMES=1 bash setup.sh). Pre- and post-processing
                         # (BBOX_THR, NMS, the RTMW3D codec) stay the same in every backend.
RUNTIME_CACHE = f'{ROOT}/models/runtime_cache'  # the networks exported for those runtimes, one file per
                                                # config, weights and input shape (made at first use)

# ---------------------------------------------------------------- output
OUTPUT_FORMATS = ('npy',)  # files per segment in NPY_DIR: 'npy' ({SENTENCE_NAME}.npy: the 85 keypoints below,
                           # normalised, for stage 4) and/or 'pose' ({SENTENCE_NAME}.pose: all 133 keypoints in
                           # pixels, pose-format's COCO-WholeBody header); a segment is done when all exist
# the .npy's 85 of the 133 keypoints
COCO_WHOLEBODY_IDX = (
    [5, 6, 7, 8, 11, 12]                       # shoulders, elbows, hips
    + list(range(23, 40, 2))                   # face contour 23, 25, ..., 39
    + list(range(40, 50))                      # brows
    + [52, 54, 56, 58]                         # nose
    + [71, 73, 75, 77, 79, 81] + list(range(83, 91))  # mouth
    + list(range(91, 133))                     # left hand 91-111, right hand 112-132
)
