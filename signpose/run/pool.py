"""The local executor: worker processes of the stage's own, one or many, each loading both models once.

A worker (spawn: safe with CUDA and with the threads torch and FFmpeg start) loads the detector
and the pose model, then takes one video at a time from the stage and sends back each segment's
outcome as it is done. The stage hands out the videos, so it always knows which video a worker is
on: when a worker dies (SIGKILL, a segfault, the OOM killer), the segments of that video not yet
reported are recorded as failed with the cause (``worker died: signal 9 (SIGKILL)``), a new worker
starts (loading the models again) and the run goes on with the next videos. concurrent.futures'
ProcessPoolExecutor cannot do that: one dead worker breaks the whole pool (BrokenProcessPool).

A worker that cannot load the models (a checkpoint that does not fit its config) or meets an mmcv
op this install lacks tells the stage, which stops with that one line and exit status 2.
"""
import multiprocessing
import os
import signal
import time
from collections import deque
from contextlib import contextmanager
from multiprocessing.connection import wait
from typing import Iterator, List, Optional

from signpose.api import Extractor
from signpose.config import Options
from signpose.contract.outcomes import failures
from signpose.nets.devices import worker_devices
from signpose.common.errors import SetupError
from signpose.install.mmcv_lite import MissingOpError
from signpose.output.writer import already_written
from signpose.output.storage import OutputError
from signpose.run.events import VideoEnded, VideoStarted, WorkerReplaced
from signpose.run.work import process_video

STOP_SECONDS = 10.0  # a worker told to stop gets this long to unwind (removing its temporary file)
PR_SET_PDEATHSIG = 1


def death_cause(exitcode: Optional[int]) -> str:
    """'signal 9 (SIGKILL)' or 'exit code 1'."""
    if exitcode is None:
        return 'unknown cause'
    if exitcode < 0:
        try:
            return f'signal {-exitcode} ({signal.Signals(-exitcode).name})'
        except ValueError:
            return f'signal {-exitcode}'
    return f'exit code {exitcode}'


# ------------------------------------------------------------------ in the worker process
def _stopped(signum, frame):
    raise KeyboardInterrupt  # the stage stops this worker: unwinding removes a temporary file


def _die_with_parent(parent: int) -> None:
    """SIGTERM when the stage dies (Linux): an orphan must not go on writing after a kill."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # elsewhere it ends at its next message to the stage (a broken pipe)
    if os.getppid() != parent:
        raise KeyboardInterrupt  # the stage died before the line above


def worker_main(options: Options, device: str, conn, parent: int) -> None:
    """A worker's life: load the models, then one video per message until told to stop (None)."""
    signal.signal(signal.SIGTERM, _stopped)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the stage's: it stops us
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        _die_with_parent(parent)
        _serve(options, device, conn)
    except (KeyboardInterrupt, BrokenPipeError, EOFError):
        pass  # stopped by the stage, or the stage is gone
    finally:  # leaving: a SIGTERM now ends the process quietly, not with a traceback from the exit handlers
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _serve(options: Options, device: str, conn) -> None:
    try:
        extractor = Extractor.from_options(options, device, log=lambda line: conn.send(('log', line)))
    except (SetupError, MissingOpError) as err:
        conn.send(('setup', str(err)))
        return
    except Exception as err:  # CUDA out of memory, a broken install: nothing can run
        conn.send(('setup', f'a worker could not load the models: {type(err).__name__}: {err}'[:500]))
        return
    conn.send(('ready', os.getpid()))
    while True:
        task = conn.recv()
        if task is None:
            return
        stop = None
        try:
            for outcome in process_video(task, extractor, options.output):
                conn.send(('outcome', outcome))
        except OutputError as err:  # the folder is full: the stage stops the run
            stop = err
        except MissingOpError as err:  # the detector needs an op this install lacks: every video would fail
            conn.send(('setup', str(err)))
            return
        conn.send(('done', stop))


# ------------------------------------------------------------------ in the stage's process
@contextmanager
def _sigint_blocked():
    """The child inherits the blocked signal (and ignores it from its first line): a Ctrl-C at a
    terminal reaches the whole process group, and only the stage is to act on it. A Ctrl-C
    meanwhile waits for the unblock, so it is not lost."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class Worker:
    """One worker process, and the video it is on."""

    def __init__(self, context, options: Options, device: str, slot: int, serial: int):
        self.slot = slot  # its place among MAX_WORKERS (its GPU); a replacement takes the same
        self.serial = serial  # 0 for the first worker started; replacements count on
        self.conn, child = context.Pipe()
        self.process = context.Process(target=worker_main, args=(options, device, child, os.getpid()),
                                       name=f'signpose-worker-{serial}', daemon=True)
        with _sigint_blocked():
            self.process.start()
        child.close()
        self.open = True  # its end of the pipe has not been closed
        self.leaving = False  # it said why it cannot go on and is ending by itself
        self.ready = False  # models loaded
        self.task = None  # the video it is on
        self.left: List = []  # that video's segments without an outcome yet

    def give(self, task) -> None:
        self.task, self.left = task, list(task.segments)
        self.conn.send(task)

    def receive(self) -> list:
        """Every message waiting (a dead worker's too: the pipe keeps them)."""
        messages = []
        while self.open:
            try:
                if not self.conn.poll():
                    break
                messages.append(self.conn.recv())
            except (EOFError, OSError):
                self.open = False
        return messages

    def stop(self) -> None:
        """Ask it to end: an idle worker leaves its loop, a busy or loading one is sent SIGTERM."""
        if not self.process.is_alive() or self.leaving:
            return
        if self.ready and self.task is None and self.open:
            try:
                self.conn.send(None)
                return
            except OSError:
                pass
        self.process.terminate()


def shutdown(workers: List[Worker]) -> None:
    for worker in workers:
        worker.stop()
    deadline = time.monotonic() + STOP_SECONDS
    for worker in workers:
        worker.process.join(max(0.0, deadline - time.monotonic()))
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.conn.close()


def run(tasks, options: Options) -> Iterator:
    """The tasks' Outcomes, with VideoStarted / VideoEnded / WorkerReplaced among them (run.events)."""
    context = multiprocessing.get_context('spawn')
    workers_wanted = options.execution.workers
    devices = worker_devices(options.compute.device, workers_wanted)  # worker i on GPU i mod n
    pending = deque(tasks)
    serials = iter(range(1 << 30))
    workers: List[Worker] = []
    stop = None  # the first OutputError: no new video starts; those running end at their next write

    def start(slot: int) -> Worker:
        return Worker(context, options, devices[slot], slot, next(serials))

    try:
        workers = [start(slot) for slot in range(max(1, min(workers_wanted, len(tasks))))]
        while True:
            for worker in workers:
                if worker.ready and worker.task is None and pending and stop is None:
                    task = pending.popleft()
                    yield VideoStarted(task.video_name)  # in the ledger before the worker has it
                    worker.give(task)
            if not any(w.task is not None for w in workers) and (stop is not None or not pending):
                break
            waiting = {w.process.sentinel: w for w in workers}
            waiting.update({w.conn: w for w in workers if w.open})
            for ready in wait(list(waiting)):
                worker = waiting[ready]
                for kind, value in worker.receive():
                    if kind == 'log':
                        if worker.serial == 0:  # the first worker's model lines; the others load alike
                            print(value, flush=True)
                    elif kind == 'ready':
                        worker.ready = True
                    elif kind == 'setup':
                        worker.leaving = True
                        raise SetupError(value)
                    elif kind == 'outcome':
                        worker.left = [s for s in worker.left if s.sentence_name != value.sentence]
                        yield value
                    elif kind == 'done':
                        yield VideoEnded(worker.task.video_name)
                        worker.task, worker.left = None, []
                        stop = stop or value
                if ready is not worker.process.sentinel or worker not in workers:
                    continue
                worker.process.join()
                cause = death_cause(worker.process.exitcode)
                if not worker.ready:
                    raise SetupError(f'a worker process died while loading the models ({cause}): too little '
                                     f'memory for MAX_WORKERS={workers_wanted}? Lower MAX_WORKERS, '
                                     f'then run the same command')
                task = worker.task
                if task is not None:  # its video costs only itself
                    # a segment written just before the death, its report lost, is written all the same
                    written, lost = already_written(options.output, worker.left)
                    yield from written
                    yield from failures(lost, f'worker died: {cause}', reader=task.reader)
                    yield VideoEnded(task.video_name)
                worker.conn.close()
                at = workers.index(worker)
                if pending and stop is None:
                    workers[at] = start(worker.slot)
                    yield WorkerReplaced(cause, task.video_name if task is not None else '')
                else:
                    del workers[at]
        if stop is not None:
            raise stop
    finally:
        shutdown(workers)
