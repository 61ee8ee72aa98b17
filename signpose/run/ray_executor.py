"""Ray executor: one long-lived actor per GPU (or CPU slot) holding both models.

The driver hands each actor one video at a time and the next as soon as it is free, and
keeps the ledger (outcomes come back to it). Actors write the .npy files themselves, with
the same atomic writes, into NPY_DIR, which must be reachable from every node (a shared
file system). Fault tolerance is Ray's own: a dead actor is restarted (``max_restarts``)
and its unfinished call re-run (``max_task_retries``), reloading the models first.
"""
import dataclasses
import os
from typing import Iterator

from signpose.api import Extractor
from signpose.common.errors import SetupError
from signpose.config import Options
from signpose.contract.outcomes import Outcome, failures
from signpose.nets.devices import cpu_threads
from signpose.output.writer import already_written
from signpose.run.work import outcomes_until_stop, process_video

ACTOR_RESTARTS = 3  # restarts of one actor before its videos are reported as failed


class StageActor:
    """Holds both models; processes one video per call."""

    def __init__(self, options: Options):
        self.options = options
        self.extractor = Extractor.from_options(options, log=lambda *_: None)  # sets the torch threads

    def process(self, task) -> tuple:
        """(outcomes, the OutputError that stopped the video or None)."""
        # a retried call: segments the lost attempt already wrote are done, not redone
        done, task.segments = already_written(self.options.output, task.segments)
        outcomes, stop = outcomes_until_stop(process_video(task, self.extractor, self.options.output))
        return done + outcomes, stop

    def ping(self) -> int:
        return os.getpid()


def _connect(address):
    try:
        import ray
    except ImportError:
        raise SetupError('EXECUTOR="ray" needs Ray: install it with "WITH_RAY=1 bash setup.sh" '
                         '(or: pip install ray==2.60.0)') from None
    if not ray.is_initialized():
        # workers import the installed package (pip install -e . on a shared file system)
        ray.init(address=address, log_to_driver=False, include_dashboard=False)
    return ray


def gpu_actor_cpus(nodes, actors_per_gpu: int) -> int:
    """CPUs each GPU actor reserves: a node's cores shared among its GPUs' actors (the node with
    the fewest cores per GPU decides, so that every GPU can take its actors), at least 1."""
    ratios = [node['Resources'].get('CPU', 0) / node['Resources']['GPU'] for node in nodes
              if node.get('Alive', True) and node.get('Resources', {}).get('GPU', 0) > 0]
    return max(1, int(min(ratios, default=1) // max(1, actors_per_gpu)))


def actor_plan(resources: dict, nodes: list, options: Options):
    """(number of actors, their Ray resource options, their options) for this cluster."""
    gpus = int(resources.get('GPU', 0))
    compute = options.compute
    if gpus and compute.first_device.startswith('cuda'):
        per_gpu = max(1, compute.workers)
        cpus = int(compute.cpu_threads or gpu_actor_cpus(nodes, per_gpu))
        # Ray makes an actor's GPU its only visible one: it is cuda:0 there. Its torch threads
        # (pre- and post-processing) match the CPUs it reserved, beside the decode threads.
        return gpus * per_gpu, dict(num_gpus=1 / per_gpu, num_cpus=cpus), \
            dataclasses.replace(options, compute=compute.replace(device='cuda:0', cpu_threads=cpus))
    cpus = cpu_threads(compute)
    return max(1, int(resources.get('CPU', 1)) // cpus), dict(num_cpus=cpus), options


def run(tasks, options: Options) -> Iterator[Outcome]:
    ray = _connect(options.execution.ray_address)
    count, resources, options = actor_plan(ray.cluster_resources(), ray.nodes(), options)
    count = min(count, len(tasks))
    remote = ray.remote(StageActor).options(max_restarts=ACTOR_RESTARTS, max_task_retries=ACTOR_RESTARTS,
                                            **resources)
    actors = [remote.remote(options) for _ in range(count)]
    pending = list(reversed(tasks))
    running = {}
    stop = None  # the first OutputError: no new video is handed out; those running finish

    def hand_out(actor):
        if pending and stop is None:
            task = pending.pop()
            running[actor.process.remote(task)] = (actor, task)

    for actor in actors:
        hand_out(actor)
    try:
        while running:
            [ready], _ = ray.wait(list(running), num_returns=1)
            actor, task = running.pop(ready)
            try:
                outcomes, error = ray.get(ready)
                stop = stop or error
            except ray.exceptions.RayError as err:  # out of restarts, or an error in the actor
                message = str(err).strip().splitlines()[-1][:300] if str(err).strip() else type(err).__name__
                outcomes = failures(task.segments, f'ray: {message}')
                if isinstance(err, ray.exceptions.RayActorError):
                    actors.remove(actor)  # gone for good: the others take its share
                    actor = actors[0] if actors else None
                    if actor is None:
                        yield from outcomes
                        for left in pending:
                            yield from failures(left.segments, 'ray: no actor left')
                        return
            yield from outcomes
            hand_out(actor)
        if stop is not None:
            raise stop
    finally:
        for ref in running:
            ray.cancel(ref, force=True)
        for actor in actors:
            ray.kill(actor)
