"""Ray executor: one long-lived actor per GPU (or CPU slot) holding both models.

The driver hands each actor one video at a time and the next as soon as it is free, and
keeps the ledger (outcomes come back to it). Actors write the .npy files themselves, with
the same atomic writes, into NPY_DIR, which must be reachable from every node (a shared
file system). Fault tolerance is Ray's own: a dead actor is restarted (``max_restarts``)
and its unfinished call re-run (``max_task_retries``), reloading the models first.
"""
import os
from typing import Iterator

from signpose.config import Settings
from signpose.contract.outcomes import Outcome, failures
from signpose.nets.devices import cpu_threads, first_device
from signpose.nets.inference import load_networks
from signpose.nets.loading import SetupError
from signpose.output.writer import already_written
from signpose.run.work import outcomes_until_stop, process_video

ACTOR_RESTARTS = 3  # restarts of one actor before its videos are reported as failed


class StageActor:
    """Holds both models; processes one video per call."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.decided, self.networks = load_networks(settings, log=lambda *_: None)  # sets the torch threads

    def process(self, task) -> tuple:
        """(outcomes, the OutputError that stopped the video or None)."""
        # a retried call: segments the lost attempt already wrote are done, not redone
        done, task.segments = already_written(self.settings, task.segments)
        outcomes, stop = outcomes_until_stop(process_video(task, self.networks, self.settings, self.decided))
        return done + outcomes, stop

    def ping(self) -> int:
        return os.getpid()


def _connect(settings: Settings):
    try:
        import ray
    except ImportError:
        raise SetupError('EXECUTOR="ray" needs Ray: install it with "WITH_RAY=1 bash setup.sh" '
                         '(or: pip install ray==2.60.0)') from None
    if not ray.is_initialized():
        # workers import the installed package (pip install -e . on a shared file system)
        ray.init(address=settings.RAY_ADDRESS, log_to_driver=False, include_dashboard=False)
    return ray


def gpu_actor_cpus(nodes, actors_per_gpu: int) -> int:
    """CPUs each GPU actor reserves: a node's cores shared among its GPUs' actors (the node with
    the fewest cores per GPU decides, so that every GPU can take its actors), at least 1."""
    ratios = [node['Resources'].get('CPU', 0) / node['Resources']['GPU'] for node in nodes
              if node.get('Alive', True) and node.get('Resources', {}).get('GPU', 0) > 0]
    return max(1, int(min(ratios, default=1) // max(1, actors_per_gpu)))


def actor_plan(resources: dict, nodes: list, settings: Settings):
    """(number of actors, their Ray resource options, their settings) for this cluster."""
    gpus = int(resources.get('GPU', 0))
    if gpus and first_device(settings.DEVICE).startswith('cuda'):
        per_gpu = max(1, settings.MAX_WORKERS)
        cpus = int(settings.CPU_THREADS or gpu_actor_cpus(nodes, per_gpu))
        # Ray makes an actor's GPU its only visible one: it is cuda:0 there. Its torch threads
        # (pre- and post-processing) match the CPUs it reserved, beside the decode threads.
        return gpus * per_gpu, dict(num_gpus=1 / per_gpu, num_cpus=cpus), \
            settings.replace(DEVICE='cuda:0', CPU_THREADS=cpus)
    cpus = cpu_threads(settings)
    return max(1, int(resources.get('CPU', 1)) // cpus), dict(num_cpus=cpus), settings


def run(tasks, settings: Settings) -> Iterator[Outcome]:
    ray = _connect(settings)
    count, options, settings = actor_plan(ray.cluster_resources(), ray.nodes(), settings)
    count = min(count, len(tasks))
    remote = ray.remote(StageActor).options(max_restarts=ACTOR_RESTARTS, max_task_retries=ACTOR_RESTARTS,
                                            **options)
    actors = [remote.remote(settings) for _ in range(count)]
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
