"""Local executor with several workers: a process pool whose initializer loads both models once."""
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Iterator, List, Optional, Tuple

from signpose.nets.devices import worker_devices
from signpose.output.ledger import Outcome, failures
from signpose.output.storage import OutputError

_worker = {}  # per worker process: the loaded inference


def _init_worker(settings, devices) -> None:
    from signpose.nets.inference import load_inference  # sets the worker's share of the cores
    settings = settings.replace(DEVICE=devices.get())  # this worker's GPU
    _worker['settings'], _worker['infer'] = load_inference(settings, log=lambda *_: None)


def _process(task) -> Tuple[List[Outcome], Optional[OutputError]]:
    from signpose.engine.batched import outcomes_until_stop, process_video
    return outcomes_until_stop(process_video(task, _worker['infer'], _worker['settings']))


def run(tasks, settings) -> Iterator[Outcome]:
    # spawn: safe with CUDA and with the threads torch and OpenCV start
    context = multiprocessing.get_context('spawn')
    devices = context.SimpleQueue()  # each worker takes one: worker i on GPU i mod n (devices.worker_devices)
    for device in worker_devices(settings.DEVICE, settings.MAX_WORKERS):
        devices.put(device)
    with ProcessPoolExecutor(settings.MAX_WORKERS, mp_context=context, initializer=_init_worker,
                             initargs=(settings, devices)) as executor:
        futures = {executor.submit(_process, task): task for task in tasks}
        stop = None  # the first OutputError: no new video starts; those running finish and are recorded
        try:
            for future in as_completed(futures):
                if future.cancelled():
                    continue
                task = futures[future]
                try:
                    outcomes, error = future.result()
                except Exception as err:  # a worker died or could not load the models
                    outcomes, error = failures(task.segments, f'worker failed: {err}'), None
                yield from outcomes
                if error is not None and stop is None:
                    stop = error
                    for waiting in futures:
                        waiting.cancel()
            if stop is not None:
                raise stop
        except BaseException:
            executor.shutdown(wait=False, cancel_futures=True)
            raise
