"""The stage: settings -> checks -> manifest -> tasks -> executor -> outcomes -> summary."""
import dataclasses
import gc
import sys
import time
from collections import Counter
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import Iterator

from signpose.api import Extractor
from signpose.config import Options, Settings, first_device
from signpose.contract.outcomes import CRASHED, FAILED, RETRY_HINT, WRITTEN, Outcome
from signpose.contract.rows import channels
from signpose.data.manifest import ManifestError, read_manifest
from signpose.data.shards import select_shard
from signpose.data.tasks import DONE_IN_LEDGER, OUTPUT_EXISTS, plan_tasks
from signpose.data.video import have_pyav
from signpose.common.errors import SetupError
from signpose.nets.devices import Decided, resolve
from signpose.nets.loading import ensure_checkpoints
from signpose.install.mmcv_lite import MissingOpError
from signpose.output.ledger import ENDED, STARTED, STOPPED, Ledger, ledger_path, read_ledger_state
from signpose.output.provenance import start_run
from signpose.output.storage import OutputError, check_writable, space_warning
from signpose.run import pool, ray_executor
from signpose.run.checks import problems as setup_problems
from signpose.run.events import VideoEnded, VideoStarted, WorkerReplaced
from signpose.run.progress import progress_for
from signpose.run.work import process_video

RULE = '=' * 72
# exit status: 0 done, 1 some segment failed, 2 something to fix first (setup, manifest, an
# output folder that cannot be written), 3 out of space (free space, run again: it continues),
# 130 interrupted
EXIT_DONE, EXIT_FAILED, EXIT_FIX, EXIT_NO_SPACE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
WORKERS_REPLACED = 'workers replaced'  # a summary count


def print_settings(s: Settings, run: Decided) -> None:
    """The banner: the settings as they will run (``run``: what ``devices.resolve`` decides for a worker)."""
    device = run.device if run.device == first_device(s.DEVICE) else f'{first_device(s.DEVICE)} not available -> cpu'
    if isinstance(s.DEVICE, (list, tuple)) and len(s.DEVICE) > 1:
        device = f'{", ".join(s.DEVICE)} (worker i on the i-th, cycled)'
    sampling = f'{s.REDUCE_FPS_TO} fps' if s.REDUCE_FPS_TO else f'every {s.FRAME_SKIP} frame(s)'
    lines = [
        RULE, 'Stage 3b: 3D whole-body landmarks (RTMDet + RTMW3D)',
        f'  CSV_FILE     {s.CSV_FILE}', f'  VIDEO_DIR    {s.VIDEO_DIR}', f'  NPY_DIR      {s.NPY_DIR}',
        f'  videos       decoded by {video_reader(s.VIDEO_BACKEND)}',
        f'  sampling     {sampling}; videos accepted at {s.ACCEPT_VIDEO_FPS_WITHIN[0]}-'
        f'{s.ACCEPT_VIDEO_FPS_WITHIN[1]} fps; segments {s.MIN_SEGMENT_SECONDS}-{s.MAX_SEGMENT_SECONDS} s',
        f'  detector     {Path(s.DET_MODEL_CONFIG).name} (class {s.DET_CAT_ID}, score > {s.BBOX_THR})',
        f'  pose model   {Path(s.POSE_MODEL_CONFIG).name}',
        *([f'  hand model   {Path(s.HAND_MODEL_CONFIG).name} (the hand pass: docs/hands.md)'] if s.HAND_MODEL_CONFIG else []),
        f'  output       (T, {len(s.COCO_WHOLEBODY_IDX)}, {channels(s.ADD_VISIBLE)}) float32',
        f'  device       {device}; executor {s.EXECUTOR}, {s.MAX_WORKERS} worker(s) of {run.cpu_threads} CPU thread(s); '
        f'batches det {run.det_batch_size} / pose {run.pose_batch_size}; '
        f'precision {run.precision}{"" if run.backend == "pytorch" else f"; backend {run.backend}"}',
    ]
    if s.NUM_SHARDS > 1:
        lines.append(f'  shard        {s.SHARD_INDEX + 1} of {s.NUM_SHARDS}')
    print('\n'.join(lines + [RULE]), flush=True)


def video_reader(backend: str) -> str:
    if backend == 'auto':
        return 'PyAV (auto)' if have_pyav() else 'OpenCV (auto: PyAV is not installed, so no AV1)'
    return backend


def inline_outcomes(tasks, options: Options) -> Iterator:
    """EXECUTOR 'inline': the models and the work in this process (for debugging: pdb, profilers).
    A crash here ends the run; the worker processes of 'local' cost a video only."""
    extractor = Extractor.from_options(options)
    for task in tasks:
        yield VideoStarted(task.video_name)
        yield from process_video(task, extractor, options.output)
        yield VideoEnded(task.video_name)


EXECUTORS = {'ray': ray_executor.run, 'inline': inline_outcomes, 'local': pool.run}  # config.EXECUTORS


def outcomes_of(tasks, options: Options) -> Iterator:
    """The executor's Outcomes, with the events of run.events among them ('local': MAX_WORKERS
    worker processes, one included)."""
    return EXECUTORS[options.execution.executor](tasks, options)


def run(settings: Settings, config_file=None) -> int:
    options = Options.of(settings)
    decided = resolve(options.compute, warn=False)  # as each worker will decide it: the banner, the record
    print_settings(settings, decided)
    problems = setup_problems(settings)
    if problems:
        for problem in problems:
            print(f'ERROR: {problem}', file=sys.stderr)
        return EXIT_FIX
    unwritable = check_writable(options.output.folder)
    if unwritable:
        return stop_for(unwritable)
    try:  # missing checkpoints, once, here: not by every worker at once
        ensure_checkpoints(options.models)
    except SetupError as err:
        print(f'ERROR: {err}', file=sys.stderr)
        return EXIT_FIX
    try:  # the run's record (output/provenance.py), before any work; completed at the end
        record = start_run(dataclasses.asdict(settings), decided, config_file)
    except OSError as err:  # a full folder: the ledger's first write stops the run with its one line
        print(f'WARNING: the run record cannot be written in {options.output.folder}/runs ({err.strerror or err})',
              file=sys.stderr, flush=True)
        record = None
    counts_seen: dict = {}
    status = EXIT_FIX
    try:
        status = run_recorded(options, record.run_id if record else '', counts_seen)
        return status
    finally:
        if record is not None:
            with suppress(OSError):
                record.finish(counts_seen, status)


def run_recorded(options: Options, run_id: str, counts_seen: dict) -> int:
    """The run after its record is written: plan, the executor, the summary (``counts_seen``
    receives the counts, for the record)."""
    with collector_paused():
        planned = plan(options, run_id)
    if isinstance(planned, int):
        return planned
    tasks, counts, ledger = planned
    counts_seen.update(planned=dict(counts))
    warning = space_warning(tasks, options.sampling, options.output)
    if warning:
        print(f'WARNING: {warning}', file=sys.stderr, flush=True)

    summary: Counter = Counter()
    started = time.time()
    interrupted, stopped = False, None
    if tasks:
        try:
            run_tasks(tasks, options, ledger, summary)
        except (SetupError, MissingOpError) as err:  # from a worker too: one line, before any video
            print(f'ERROR: {err}', file=sys.stderr)
            return EXIT_FIX
        except OutputError as err:
            stopped = err
        except KeyboardInterrupt:
            interrupted = True
    counts_seen.update(dict(summary), seconds=round(time.time() - started, 3))
    print_summary(options.output.folder, ledger, counts, summary, time.time() - started, interrupted, stopped)
    if stopped is not None:
        return stop_for(stopped)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if any(k.startswith(FAILED) for k in summary) else EXIT_DONE


@contextmanager
def collector_paused():
    """Start-up makes about two objects per manifest row and ledger line, all kept: the cyclic
    garbage collector would walk them again and again for nothing (start-up 3x slower)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def plan(options: Options, run_id: str = ''):
    """Manifest, shard, ledger and videos -> (tasks, skip counts, ledger), or an exit status."""
    try:
        segments, bad_rows = read_manifest(options.manifest)
    except ManifestError as err:
        print(f'ERROR: {err}', file=sys.stderr)
        return EXIT_FIX
    print(f'Manifest: {len(segments) + len(bad_rows)} rows, {len(bad_rows)} bad')
    for bad in bad_rows[:20]:
        print(f'  bad row{f" (line {bad.line})" if bad.line else ""}: {bad.reason}')
    if len(bad_rows) > 20:
        print(f'  ... and {len(bad_rows) - 20} more')
    run, folder = options.execution, options.output.folder
    segments = select_shard(segments, run.num_shards, run.shard_index)  # checked: config.value_problems
    known, crashes = read_ledger_state(folder)
    ledger = Ledger(ledger_path(folder, run.shard_index, run.num_shards), known=known, run=run_id)
    tasks, skipped, counts = plan_tasks(segments, options.video_dir, options.sampling, options.output,
                                        options.engine.persons.multi_person, ledger.known, crashes=crashes,
                                        retry_crashed=run.retry_crashed)
    try:
        ledger.record_all(skipped)
    except OutputError as err:
        return stop_for(err)
    print_plan(tasks, counts)
    return tasks, counts, ledger


def print_plan(tasks, counts) -> None:
    todo = sum(len(t.segments) for t in tasks)
    lines = [f'Tasks: {todo} segments to process in {len(tasks)} videos '
             f'({sum(t.seconds for t in tasks):.1f} s of video)']
    for reason in (OUTPUT_EXISTS, DONE_IN_LEDGER, *sorted(set(counts) - {OUTPUT_EXISTS, DONE_IN_LEDGER})):
        if counts[reason]:
            lines.append(f'  Skipped ({reason}): {counts[reason]}')
    if counts[CRASHED]:
        lines.append(f'    (the ledger names them; {RETRY_HINT})')
    print('\n'.join(lines), flush=True)


def run_tasks(tasks, options: Options, ledger, summary: Counter) -> None:
    """Every outcome into the ledger and onto the console, as it comes; the videos' starts and
    ends into the ledger (a start without an end is a video the stage died on)."""
    todo = sum(len(t.segments) for t in tasks)
    progress = progress_for(todo)
    running = set()
    done = 0
    try:
        with closing(outcomes_of(tasks, options)) as items:  # closed: a pool stops with the loop
            for item in items:
                if isinstance(item, VideoStarted):
                    ledger.video(STARTED, item.video)
                    running.add(item.video)
                elif isinstance(item, VideoEnded):
                    ledger.video(ENDED, item.video)
                    running.discard(item.video)
                elif isinstance(item, WorkerReplaced):
                    summary[WORKERS_REPLACED] += 1
                    on = f' on {item.video}' if item.video else ''
                    progress.line(f'Worker died ({item.cause}){on}; a new worker started (loading the models)')
                else:
                    done += 1
                    ledger.record(item)
                    progress.line(f'[{done}/{todo}] {item.sentence}: {describe(item, summary)}')
                    progress.advance()
    finally:
        progress.close()
        # stopped cleanly (Ctrl-C, a full disk, an error): not a crash of the stage on these videos
        for video in running:
            with suppress(OutputError, OSError):
                ledger.video(STOPPED, video)


def stop_for(err: OutputError) -> int:
    """The one line of an output folder that cannot take more, and the exit status."""
    print(f'ERROR: {err.message()}', file=sys.stderr, flush=True)
    return EXIT_NO_SPACE if err.out_of_space else EXIT_FIX


def describe(outcome: Outcome, summary: Counter) -> str:
    """The console line of one segment; counts it in ``summary``."""
    if outcome.status == WRITTEN:
        summary['frames'] += outcome.frames
        summary['processed'] += 1
        note = f' ({outcome.reason})' if outcome.reason else ''
        return f'{outcome.frames} frames -> {outcome.path}{note}{read_by(outcome)}'
    summary[f'{outcome.status}:{outcome.reason.split(":")[0]}'] += 1
    return f'{outcome.status.capitalize()} ({outcome.reason}){read_by(outcome)}'


def read_by(outcome: Outcome) -> str:
    return f' [read by {outcome.reader}]' if outcome.reader else ''


def print_summary(folder: str, ledger, counts, summary, elapsed, interrupted, stopped=None) -> None:
    frames = summary.pop('frames', 0)
    print(RULE)
    if stopped is not None:
        print('Stopped: the output folder cannot take more (the error below); finished segments are '
              'saved and recorded.')
    else:
        print('Interrupted: finished segments are saved; run the same command again to continue.'
              if interrupted else 'Done.')
    replaced = summary.pop(WORKERS_REPLACED, 0)
    print(f'  Processed: {summary.pop("processed", 0)} segments, {frames} frames'
          f'{f" ({frames / elapsed:.1f} frames/s)" if frames and elapsed > 0 else ""}')
    for reason, count in sorted(counts.items()):
        print(f'  Skipped ({reason}): {count}')
    if counts.get(CRASHED):
        print(f'    ({RETRY_HINT})')
    for key, count in sorted(summary.items()):
        status, reason = key.split(':', 1)
        print(f'  {status.capitalize()} ({reason}): {count}')
    if replaced:
        print(f'  Workers died and were replaced: {replaced} (their videos\' remaining segments failed)')
    print(f'  Output folder: {folder}  (ledger: {ledger.path.name})')
    print(RULE, flush=True)

