"""Deterministic shards for batch schedulers (Slurm job arrays): whole videos, balanced by duration."""
from collections import defaultdict
from typing import Dict, List

from signpose.data.manifest import Segment


def assign_shards(segments: List[Segment], num_shards: int) -> Dict[str, int]:
    """Map each video to a shard in [0, num_shards).

    Longest-processing-time-first: videos by total segment duration, longest first (name breaks
    ties), each to the least-loaded shard. It depends on the manifest alone, so every job of
    an array computes the same split without talking to the others.
    """
    seconds: Dict[str, float] = defaultdict(float)
    for seg in segments:
        seconds[seg.video_name] += seg.duration
    load = [0.0] * max(1, num_shards)
    shard_of: Dict[str, int] = {}
    for video in sorted(seconds, key=lambda v: (-seconds[v], v)):
        shard = min(range(len(load)), key=lambda i: (load[i], i))
        shard_of[video] = shard
        load[shard] += seconds[video]
    return shard_of


def select_shard(segments: List[Segment], num_shards: int, shard_index: int) -> List[Segment]:
    if num_shards <= 1:
        return list(segments)
    if not 0 <= shard_index < num_shards:
        raise ValueError(f'SHARD_INDEX={shard_index} is not in [0, NUM_SHARDS={num_shards})')
    shard_of = assign_shards(segments, num_shards)
    return [s for s in segments if shard_of[s.video_name] == shard_index]
