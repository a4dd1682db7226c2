"""Progress of a measure run: a bar on a terminal, plain lines otherwise.

The bar counts tasks.  The time estimate is honest in two ways: it uses only the work done in
*this* session (tasks restored from ``PREFIX.partial/`` took no time now), and it weights
tasks by their estimated cost (a 32B gate_proj pair is ~100x a k_proj pair), so
``remaining = elapsed * remaining_cost / done_cost``.  When standard error is not a terminal
(a batch job, a log file) one line is printed each time another 5% is done, or after 30 s
with progress, whichever comes first -- never more often.

Examples
--------
>>> import io
>>> buf = io.StringIO()
>>> now = [0.0]
>>> p = TaskProgress(label="measure", stream=buf, clock=lambda: now[0], tty=False)
>>> p.start(total=4, done=1, total_cost=4.0, done_cost=1.0)
>>> now[0] = 60.0; p.advance(1.0)
>>> now[0] = 90.0; p.advance(1.0); p.advance(1.0); p.close()
>>> print(buf.getvalue())
measure: resuming: 1 of 4 tasks already saved
measure: 2/4 tasks (50%), 0:01:00 elapsed, about 0:02:00 left
measure: 3/4 tasks (75%), 0:01:30 elapsed, about 0:00:45 left
measure: 4/4 tasks (100%), 0:01:30 elapsed, done
<BLANKLINE>
"""
from __future__ import annotations

import sys
import time


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class TaskProgress:
    """Progress reporter for the runners (``start``, ``advance(cost)``, ``close``)."""

    def __init__(self, label: str = "gaugetest measure", stream=None, clock=time.monotonic,
                 tty: bool | None = None, every_fraction: float = 0.05,
                 every_seconds: float = 30.0):
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.tty = self.stream.isatty() if tty is None else tty
        self.every_fraction = every_fraction
        self.every_seconds = every_seconds
        self._bar = None

    def start(self, total: int, done: int, total_cost: float, done_cost: float) -> None:
        self.total, self.done = total, done
        self.total_cost, self.cost_now, self.cost_before = total_cost, 0.0, done_cost
        self.t0 = self.clock()
        self._last_t, self._last_frac = self.t0, done / total if total else 1.0
        if self.tty:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn

            self._bar = Progress(TextColumn(self.label), BarColumn(),
                                 TextColumn("{task.completed}/{task.total} tasks"),
                                 TextColumn("{task.fields[eta]}"), transient=True,
                                 console=Console(file=self.stream))
            self._task = self._bar.add_task(self.label, total=total, completed=done,
                                            eta=self._eta_text())
            self._bar.start()
        elif done:
            self._line(f"resuming: {done} of {total} tasks already saved")

    def _eta_text(self) -> str:
        elapsed = self.clock() - self.t0
        if self.cost_now <= 0:
            return "estimating time left..."
        remaining = self.total_cost - self.cost_before - self.cost_now
        return f"{_hms(elapsed)} elapsed, about {_hms(elapsed * remaining / self.cost_now)} left"

    def _line(self, text: str) -> None:
        print(f"{self.label}: {text}", file=self.stream, flush=True)

    def advance(self, cost: float) -> None:
        self.done += 1
        self.cost_now += cost
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, eta=self._eta_text())
            return
        now, frac = self.clock(), self.done / self.total if self.total else 1.0
        if self.done < self.total and (frac - self._last_frac >= self.every_fraction
                                       or now - self._last_t >= self.every_seconds):
            self._last_t, self._last_frac = now, frac
            self._line(f"{self.done}/{self.total} tasks ({frac:.0%}), {self._eta_text()}")

    def close(self, finished: bool = True) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        elif self.total and finished:
            self._line(f"{self.done}/{self.total} tasks (100%), "
                       f"{_hms(self.clock() - self.t0)} elapsed, done")
