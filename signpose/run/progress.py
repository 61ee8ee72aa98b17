"""Progress of a run: a redrawn bar for a person at a terminal, plain lines for a log file.

Under Slurm or any redirect stderr is a file, where a bar's redraws and the blank lines it
leaves around each message only fill the log. There the per-segment lines are printed as they
are, and a progress line (count, rate, time left) every PROGRESS_SECONDS.
"""
import sys
import time

PROGRESS_SECONDS = 60.0  # between progress lines in a log


class BarProgress:
    """tqdm's bar on stderr (a terminal); the segment lines are written above it."""

    def __init__(self, total: int, stream):
        from tqdm import tqdm
        self.bar = tqdm(total=total, unit='seg', dynamic_ncols=True, file=stream)

    def line(self, text: str) -> None:
        self.bar.write(text, file=sys.stdout)

    def advance(self) -> None:
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


class LogProgress:
    """Segment lines on stdout and, at most every ``interval`` seconds, a progress line on
    ``stream``; nothing is redrawn and no line is blank."""

    def __init__(self, total: int, stream, interval: float = PROGRESS_SECONDS, clock=time.monotonic):
        self.total, self.stream, self.interval, self.clock = total, stream, interval, clock
        self.done = 0
        self.started = self.last = clock()

    def line(self, text: str) -> None:
        print(text, flush=True)

    def advance(self) -> None:
        self.done += 1
        now = self.clock()
        if now - self.last >= self.interval and self.done < self.total:
            self.last = now
            print(progress_line(self.done, self.total, now - self.started), file=self.stream, flush=True)

    def close(self) -> None:
        pass


def progress_line(done: int, total: int, elapsed: float) -> str:
    rate = done / elapsed if elapsed > 0 else 0.0
    left = f', about {duration(int((total - done) / rate))} left' if rate > 0 else ''
    return f'Progress: {done}/{total} segments ({100 * done / total:.1f}%), {rate * 60:.1f} segments/min{left}'


def duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f'{hours} h {minutes:02d} min'
    return f'{minutes} min {seconds:02d} s' if minutes else f'{seconds} s'


def progress_for(total: int, stream=None):
    """A bar when ``stream`` (stderr) is a terminal, plain lines otherwise."""
    stream = stream or sys.stderr
    isatty = getattr(stream, 'isatty', None)
    return BarProgress(total, stream) if isatty is not None and isatty() else LogProgress(total, stream)
