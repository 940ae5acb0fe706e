"""What a running job tells the terminal that launched the run: one line when a run starts and when it
ends, and progress lines (done / total, rate, ETA) while it trains or evaluates.

Snakemake's local executor runs each job's script in a subprocess that inherits the terminal's
stderr; the scripts send their ``print`` output (``sys.stdout`` / ``sys.stderr``) to the job's log
file. ``job_console`` keeps the terminal's stream aside and writes these short lines both to it and
to the log, each with one ``write`` (two jobs running side by side do not cut each other's lines).
On a cluster the "terminal" is the job's own stderr file, which holds the same lines.

Lines (``run`` is ``task/recipe/seedN`` for a training or evaluation job, the task or the rule's name
otherwise)::

    ▶ ptb/della/seed0  train della 2×64: 1000 steps, new run
      ptb/della/seed0  train  400/1000 steps  40%  22.1 steps/s  ETA 0:27  loss 16.31  KL (layer sum) 1.43  β 0.78
    ✓ ptb/della/seed0  trained 1000 steps in 0:45
    ■ ptb/della/seed0  stopped by Ctrl-C at step 926 of 1000 (checkpoint saved at step 926)
    ✗ ptb/della/seed0  train failed: ValueError: ... (log: results/logs/train/ptb/della/seed0.log)

A progress line is written at most every ``progress_seconds`` (top-level config key, default 30; it
is read when the job runs, not a rerun trigger) and when a phase ends; a phase shorter than that
prints no progress line at all. Outside a job (tests, notebooks) the lines go to ``sys.stderr``.

Ctrl-C: the terminal sends SIGINT to Snakemake and to every running job. Inside
``deferred_interrupts()`` (the training loop) SIGINT only sets a flag, so the loop stops at the end
of the step, saves a checkpoint and raises ``Interrupted``; elsewhere Python's ``KeyboardInterrupt``
stops the job at once. ``job_console`` turns either into one ``■`` line and exit status 130 (no
traceback in the log).
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

PROGRESS_SECONDS = 30.0
INTERRUPTED_EXIT = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C

START, DONE, STOPPED, FAILED, INFO = "▶", "✓", "■", "✗", " "


class Interrupted(KeyboardInterrupt):
    """Ctrl-C honoured at a safe point (the end of a training step); the message says where."""


def format_duration(seconds: float) -> str:
    """``m:ss`` below an hour, ``h:mm:ss`` above."""
    seconds = int(round(max(seconds, 0.0)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_figure(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) >= 1000 or (value != 0 and abs(value) < 0.01) else f"{value:.2f}"
    return str(value)


class Console:
    """Where a job's short lines go: the terminal that launched the run (``terminal``) and the job's
    log (``log``, None when the log is the terminal)."""

    def __init__(self, run: str, terminal=None, log=None, progress_seconds: float = PROGRESS_SECONDS):
        self.run = run
        self.terminal = terminal if terminal is not None else sys.stderr
        self.log = log
        self.progress_seconds = float(progress_seconds)

    def say(self, mark: str, text: str) -> str:
        line = f"{mark} {self.run}  {text}"
        for stream in (self.terminal, self.log):
            if stream is None:
                continue
            try:
                stream.write(line + "\n")  # one write: a whole line, even with two jobs on one terminal
                stream.flush()
            except (OSError, ValueError):  # a closed terminal must not stop the job
                pass
        return line


class _NullConsole(Console):
    def say(self, mark: str, text: str) -> str:
        return f"{mark} {self.run}  {text}"


_current: Console | None = None


def current() -> Console:
    """The job's console (``job_console``), or one that writes to ``sys.stderr``."""
    return _current if _current is not None else Console("", terminal=sys.stderr)


def say(mark: str, text: str) -> str:
    return current().say(mark, text)


class Progress:
    """Done / total of one phase with its rate and ETA, written as a line at most every
    ``console.progress_seconds`` and at the end of the phase (``close``)."""

    def __init__(self, phase: str, total: int, unit: str, *, initial: int = 0, console: Console | None = None,
                 clock=time.monotonic):
        self.phase, self.total, self.unit = phase, int(total), unit
        self.done = self.start_done = int(initial)
        self.console = console if console is not None else current()
        self.clock = clock
        self.started = self.last_line = clock()
        self.figures: dict = {}
        self.lines: list[str] = []  # every line written (tests)

    def update(self, n: int = 1, **figures) -> None:
        """``n`` more units done; ``figures`` (e.g. ``loss=16.3``) are shown in the next line."""
        self.done += n
        self.figures = figures
        now = self.clock()
        if now - self.last_line >= self.console.progress_seconds and self.done < self.total:
            self._write(now)

    def rate(self, now: float | None = None) -> float:
        elapsed = (self.clock() if now is None else now) - self.started
        return (self.done - self.start_done) / elapsed if elapsed > 0 else 0.0

    def line(self, now: float | None = None) -> str:
        now = self.clock() if now is None else now
        rate = self.rate(now)
        parts = [f"{self.phase}  {self.done}/{self.total} {self.unit}"]
        if self.total:
            parts.append(f"{100 * self.done / self.total:.0f}%")
        if rate > 0:
            parts.append(f"{rate:.3g} {self.unit}/s" if rate >= 1 else f"{1 / rate:.3g} s/{self.unit.rstrip('s')}")
            if self.done < self.total:
                parts.append(f"ETA {format_duration((self.total - self.done) / rate)}")
        parts += [f"{name} {format_figure(value)}" for name, value in self.figures.items()]
        return "  ".join(parts)

    def _write(self, now: float) -> None:
        self.last_line = now
        self.lines.append(self.console.say(INFO, self.line(now)))

    def close(self) -> float:
        """End of the phase: a last line if any line was written (so a long phase ends with 100%);
        returns the phase's seconds."""
        now = self.clock()
        if self.lines and self.lines[-1] != self.line(now):
            self._write(now)
        return now - self.started


class _QuietProgress(Progress):
    def _write(self, now: float) -> None:
        self.last_line = now


def track(phase: str, total: int, unit: str, *, initial: int = 0, enabled: bool = True) -> Progress:
    """A ``Progress`` on the current console (silent when ``enabled`` is False)."""
    cls = Progress if enabled else _QuietProgress
    return cls(phase, total, unit, initial=initial)


class _Flag:
    requested = False


@contextlib.contextmanager
def deferred_interrupts():
    """Inside: SIGINT (Ctrl-C) sets ``flag.requested`` instead of raising, so the caller can stop at a
    safe point. A second Ctrl-C raises at once. Outside the main thread it changes nothing."""
    flag = _Flag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def run_label(wildcards) -> str:
    """``task/recipe/seedN`` from a job's wildcards, or what of it there is."""
    parts = [wildcards[key] for key in ("task", "recipe") if key in wildcards.keys()]
    if "seed" in wildcards.keys():
        parts.append(f"seed{wildcards['seed']}")
    if "table" in wildcards.keys():
        parts.append(f"table {wildcards['table']}")
    return "/".join(parts)


@contextlib.contextmanager
def job_console(snakemake, kind: str, run: str | None = None):
    """The body of a Snakemake script: its output goes to the job's log, short lines go to the
    terminal as well (``Console``), Ctrl-C and errors end it with one line.

    ``kind`` names the job in its lines (``train``, ``evaluate``, ``tables``...); ``run`` defaults to
    the job's wildcards (``run_label``) or ``kind``."""
    global _current
    terminal = sys.__stderr__
    log_path = Path(snakemake.log[0])
    log = open(log_path, "w", buffering=1, encoding="utf-8")
    sys.stdout = sys.stderr = log
    config = getattr(snakemake, "config", {}) or {}
    console = Console(run or run_label(snakemake.wildcards) or kind, terminal=terminal, log=log,
                      progress_seconds=config.get("progress_seconds", PROGRESS_SECONDS))
    _current = console
    status = 0
    try:
        yield console
    except KeyboardInterrupt as err:  # Ctrl-C: the terminal sent SIGINT to every job
        where = str(err) if isinstance(err, Interrupted) else f"during {kind}"
        console.say(STOPPED, f"stopped by Ctrl-C {where}")
        status = INTERRUPTED_EXIT
    except BaseException as err:
        if isinstance(err, SystemExit) and not err.code:
            raise
        traceback.print_exc()  # the whole story goes to the log
        message = str(err).strip().splitlines()[0] if str(err).strip() else ""
        console.say(FAILED, f"{kind} failed: {type(err).__name__}: {message[:300]} (log: {log_path})")
        status = 1
    finally:
        _current = None
        log.flush()
    if status:
        sys.exit(status)  # no traceback from the interpreter: the log has it, the terminal has one line
