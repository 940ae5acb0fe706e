"""What the terminal shows of a run on Snakemake's side (the jobs' own lines: della/progress.py).

``workflow/rules/console.smk`` uses this module in Snakemake's main process:

* a **start-up summary** before any job: the config, the runs and their budget, the evaluation
  budget, and what data every task will use (real, a stand-in data set, a synthetic stand-in, or the
  synthetic twin of the offline demo);
* **Snakemake's own chatter trimmed** in a run that trains: the profile's ``quiet: [host]`` drops the
  host block; ``SnakemakeChatter``, a filter on Snakemake's console handler, drops the eight-line
  ``localrule`` block of every job (the job prints its own start line), "N of M steps" (it counts a
  one-second table job like a training job; each run's end line counts runs instead) and the
  scheduler's "Select jobs / Execute N jobs" lines. It reads only the ``event`` of a record
  (``LogEvent``, the interface of Snakemake's logger plugins) and lets anything else through, errors
  and the job-count table included. Snakemake's ``quiet`` presets cannot do this: ``rules`` also hides
  the errors of failed jobs, ``progress`` the job counts of a dry run. The log under ``.snakemake/log``
  keeps everything;
* **Ctrl-C**: ``Interrupt`` records the terminal's SIGINT; the filter then drops the job-error records
  of the jobs Ctrl-C stopped (each job printed one line saying where it stopped) and Snakemake's
  "At least one job did not complete successfully"; at exit one line says what was kept and gives the
  command that continues (the profile sets ``rerun-incomplete``), exit status 130;
* a **final summary** after a run that finished: the tables, plots, claims and summary written, and
  the report command.

A logger plugin would be Snakemake's own way, but Snakemake finds plugins with
``pkgutil.iter_modules()``, which does not see a package installed by ``pip install -e .`` (setuptools'
editable finder), so a plugin shipped here would not be found after the README's install.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import shlex
import signal
import sys
from pathlib import Path

from della.progress import format_duration

# Snakemake's scheduler lines that say nothing a user acts on (plain INFO records without an event)
CHATTER_PREFIXES = ("Select jobs to execute", "Execute ", "Using shell:", "Provided cores:",
                    "Rules claiming more threads", "Assuming unrestricted shared filesystem usage",
                    "Provided resources:", "Singularity containers: ignored", "Conda environments: ignored")
# invocations that only inspect (no summary, no console changes)
INSPECTING_OPTIONS = ("--unlock", "--report", "--lint", "--list-rules", "--list", "-l", "--cleanup-metadata",
                      "--dag", "--rulegraph", "--filegraph", "--d3dag", "--summary", "-S", "--detailed-summary",
                      "-D", "--list-changes", "--lc", "--touch", "-t", "--version", "--help", "-h")


def invocation(argv=None):
    """Snakemake's own parse of the command line (targets, dry run, report): the Snakefile is read
    before Snakemake tells it the targets."""
    from snakemake.cli import get_argument_parser

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return get_argument_parser().parse_args(argv)
    except SystemExit:  # not ours to refuse: Snakemake has parsed these arguments already
        return None


def rerun_command(argv=None) -> str:
    return "snakemake " + shlex.join(list(sys.argv[1:] if argv is None else argv))


def is_inspecting(argv=None) -> bool:
    argv = sys.argv[1:] if argv is None else argv
    return any(arg.split("=")[0] in INSPECTING_OPTIONS for arg in argv)


# --------------------------------------------------------------------------- start-up summary


def cwd_relative(path) -> str:
    """A path relative to the working directory when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _steps(section: dict) -> str:
    if section.get("steps"):
        return f"train.steps {section['steps']}"
    return f"{section.get('epochs', '?')} epochs"


def startup_summary(config: dict, config_files, overrides: list[str], runs, locations, data_root_shown) -> list[str]:
    """The lines printed before any job: config, runs, budgets, and the data of every task."""
    files = ", ".join(cwd_relative(f) for f in config_files) or "config/config.yaml"
    lines = [f"DELLA-Bench · config {files}"
             + (f" + --config {' '.join(overrides)}" if overrides else "")
             + f" · results in {config['results_dir']}/"]
    tasks = list(dict.fromkeys(task for task, _ in runs))
    recipes = list(dict.fromkeys(recipe for _, recipe in runs))
    seeds = config["seeds"]
    model, train, evaluate = config["model"], config["train"], config["evaluate"]
    size = f"pretrained {model['pretrained']}" if model.get("pretrained") else f"{model['n_layer']}×{model['n_embd']}"
    lines.append(f"  {len(runs) * len(seeds)} runs: {len(tasks)} task(s) × {len(recipes)} recipe(s)"
                 + (" (some recipes on some tasks only)" if len(runs) < len(tasks) * len(recipes) else "")
                 + f" × seeds {seeds}; {_steps(train)} × batch {train.get('batch_size')}; models {size}"
                 + " (recipes may override)")
    lines.append(f"  evaluation per run: {evaluate.get('max_sentences')} test sentences, IW K = "
                 f"{evaluate.get('iw_samples')} (latent models), {evaluate.get('n_samples')} samples")
    width = max((len(loc.task) for loc in locations), default=0)
    if locations and all(loc.kind == "synthetic twin" for loc in locations):
        lines.append(f"  data: synthetic twins of {', '.join(loc.task for loc in locations)} "
                     "(the offline demo: data_root is null)")
        locations = []
    else:
        lines.append("  data:")
    for loc in locations:
        if loc.kind == "missing":
            text = (f"SYNTHETIC stand-in: no file of {loc.task} under {data_root_shown} "
                    f"(data.missing: {{{loc.task}: synthetic}}; every table row marks it)")
        else:
            text = loc.describe(data_root_shown)
        lines.append(f"    {loc.task:<{width}}  {text}")
    from della.models.registry import broken_modules

    for why in broken_modules():  # one broken file stops only the runs of the models it defines
        lines.append(f"  ! not imported, its models are unavailable: {why}")
    progress = config.get("progress_seconds", 30)
    lines.append(f"  progress: one line when a run starts and ends, and every {progress:g} s while a job trains or "
                 f"evaluates; each job's full output in {config['results_dir']}/logs/")
    return lines


# --------------------------------------------------------------------------- Snakemake's chatter and Ctrl-C


class Interrupt:
    """Whether the terminal's Ctrl-C (SIGINT) reached this process: recorded, then Python's own
    handler runs (Snakemake stops its scheduler and waits for the jobs, which got SIGINT too)."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def install(self) -> None:
        self._previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, self._handler)

    def _handler(self, signum, frame):
        self.requested = True
        if callable(self._previous):
            self._previous(signum, frame)
        else:
            raise KeyboardInterrupt


class SnakemakeChatter(logging.Filter):
    """Drops what a user cannot act on from Snakemake's console output (module docstring)."""

    def __init__(self, interrupt: Interrupt):
        super().__init__()
        self.interrupt = interrupt

    def filter(self, record: logging.LogRecord) -> bool:
        from snakemake_interface_logger_plugins.common import LogEvent

        event = getattr(record, "event", None)
        if event in (LogEvent.JOB_INFO, LogEvent.JOB_STARTED, LogEvent.JOB_FINISHED, LogEvent.PROGRESS,
                     LogEvent.RESOURCES_INFO):
            return False  # a job's block, "Execute N jobs...", "Finished jobid: 3", "N of M steps", "Provided cores"
        if self.interrupt.requested and record.levelno >= logging.ERROR:
            return False  # the stopped jobs said where they stopped; the exit line says how to continue
        if event is None and record.levelno == logging.INFO:
            message = str(record.msg)
            return not message.startswith(CHATTER_PREFIXES)
        return True


def trim_snakemake_console(interrupt: Interrupt) -> bool:
    """Install ``SnakemakeChatter`` on Snakemake's console handler; False when there is none (then
    Snakemake prints as usual)."""
    handlers = [h for h in logging.getLogger("snakemake.logging").handlers if h.name == "DefaultStreamHandler"]
    for handler in handlers:
        handler.addFilter(SnakemakeChatter(interrupt))
    return bool(handlers)


# --------------------------------------------------------------------------- per-run line, plan, summary


PLAN = ".della/plan.json"
FINISHED = ".della/finished.yaml"


def runs_to_do(workflow, run_names: list[str]) -> list[str]:
    """The runs (``task/recipe/seedN``) whose evaluate job this invocation runs: the counter of the
    runs' end lines counts those, not runs already finished before. From Snakemake's DAG (``onstart``
    is called once it is built); every run of the config if that cannot be read."""
    try:
        jobs = workflow.dag.needrun_jobs()
        todo = {f"{job.wildcards['task']}/{job.wildcards['recipe']}/seed{job.wildcards['seed']}"
                for job in jobs if job.rule.name == "evaluate"}
    except Exception:  # Snakemake's DAG is not a public interface: no counter is better than a wrong one
        return list(run_names)
    return [run for run in run_names if run in todo]


def write_plan(results_dir, runs: list[str]) -> None:
    """The runs (``task/recipe/seedN``) this invocation finishes, for the ``n of N runs done`` counter."""
    from della.io import atomic_write_text

    atomic_write_text(Path(results_dir) / PLAN, json.dumps({"runs": runs}, indent=0) + "\n")


def runs_done(results_dir) -> tuple[int, int] | None:
    """(runs of the plan whose metrics.json was written since the plan, runs of the plan)."""
    plan = Path(results_dir) / PLAN
    try:
        runs = json.loads(plan.read_text())["runs"]
        since = plan.stat().st_mtime
    except (OSError, ValueError, KeyError):
        return None
    done = 0
    for run in runs:
        metrics = Path(results_dir) / "runs" / run / "metrics.json"
        done += metrics.is_file() and metrics.stat().st_mtime >= since
    return (done, len(runs)) if runs else None


HEADLINE = {  # what a run's end line shows (della/reporting/conventions.py labels)
    "latent": ("ppl", "kl"),
    "lm": ("ppl",),
    "conditional_latent": ("bleu", "kl"),
    "conditional_lm": ("bleu",),
}


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def run_finished_line(run_dir, results_dir) -> str:
    """``done: 1000 steps (0:45) + evaluation (0:06) · PPL (layer sum) 2.20 · KL (layer sum) 1.18 · 12 of 58 runs done``."""
    from della.reporting.conventions import label

    run_dir = Path(run_dir)
    metrics = _read_json(run_dir / "metrics.json")
    train_s = _read_json(run_dir / "train_timing.json").get("seconds")
    eval_s = _read_json(run_dir / "eval_timing.json").get("seconds")
    conditional = bool(metrics.get("conditional"))
    kind = ("conditional_" if conditional else "") + ("latent" if metrics.get("has_latent") else "lm")
    parts = [f"done: {metrics.get('train_steps', '?')} steps"
             + (f" ({format_duration(train_s)})" if train_s is not None else "")
             + (f" + evaluation ({format_duration(eval_s)})" if eval_s is not None else "")]
    for key in HEADLINE[kind]:
        if isinstance(metrics.get(key), (int, float)):
            parts.append(f"{label(key, conditional).text} {metrics[key]:.2f}")
    counter = runs_done(results_dir)
    if counter:
        parts.append(f"{counter[0]} of {counter[1]} runs done")
    return " · ".join(parts)


def written_outputs(results_dir, tasks) -> list[str]:
    """The final summary's lines: what this run wrote, where."""
    root = Path(results_dir)
    lines = []

    def present(paths):
        return [str(p) for p in paths if p.is_file()]

    tables = present([root / "tables" / f"{kind}.md" for kind in ("unconditional", "conditional")])
    if tables:
        lines.append("  tables:       " + ", ".join(tables))
    paper = sorted((root / "tables" / "paper").glob("table*.md"))
    if paper:
        lines.append(f"  paper tables: {root / 'tables' / 'paper'}/" + "{"
                     + ",".join(p.stem for p in paper) + "}.{md,html,csv,tex}")
    plots = [t for t in tasks if (root / "plots" / t).is_dir()]
    if plots:
        lines.append(f"  plots:        {root / 'plots'}/" + "{" + ",".join(plots) + "}/*.{png,pdf}")
    for name, what in (("claims.md", "claims"), ("summary.md", "summary")):
        if (root / name).is_file():
            lines.append(f"  {what + ':':<13} {root / name}")
    return lines


def report_command(config_files) -> str:
    extra = "".join(f" --configfile {cwd_relative(f)}" for f in config_files)
    return f"snakemake --report report.html{extra}"


def exit_message(interrupt: Interrupt, finished: bool, results_dir, tasks, config_files, argv=None) -> list[str]:
    if interrupt.requested:
        counter = runs_done(results_dir)
        kept = f"{counter[0]} of {counter[1]} runs are finished and kept" if counter else "finished runs are kept"
        return [f"Interrupted (Ctrl-C): {kept}; a stopped training run resumes from its checkpoint. Continue with:",
                f"  {rerun_command(argv)}"]
    if finished:
        return (["Finished. Written:"] + written_outputs(results_dir, tasks)
                + [f"  report:       {report_command(config_files)}   (tables, figures, config, samples, data notes)"])
    return []


def at_exit(interrupt: Interrupt, state: dict, results_dir, tasks, config_files) -> None:
    """Registered with ``atexit`` in the main process: the last lines on the terminal. After Ctrl-C
    the exit status is 130 (what a shell reports for a command stopped by Ctrl-C)."""
    def hook():
        lines = exit_message(interrupt, state.get("finished", False), results_dir, tasks, config_files)
        if not lines:
            return
        sys.stderr.write("\n".join(lines) + "\n")
        sys.stderr.flush()
        if interrupt.requested:
            sys.stdout.flush()
            os._exit(130)

    atexit.register(hook)
