"""What the terminal shows (issue 21): the jobs' start / progress / end lines (della/progress.py), the
workflow's start-up and final summaries and its filter of Snakemake's chatter
(della/reporting/console.py), and Ctrl-C: training stops at a step boundary with a checkpoint, the
next invocation resumes to the same bytes. The DAG-level checks (one start and one end line per run,
the summaries, Ctrl-C on a real process group) are in tests/test_workflow.py (smoke run)."""
import contextlib
import io
import json
import logging
import os
import time
from types import SimpleNamespace

import pytest

import della.progress as progress
from della.data.synthetic import generate_task
from della.data.tokenizer import TextTokenizer
from della.reporting import console
from della.training.objectives import ObjectiveConfig


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_lines_have_rate_eta_and_are_throttled():
    terminal = io.StringIO()
    out = progress.Console("ptb/della/seed0", terminal=terminal, progress_seconds=30)
    clock = Clock()
    bar = progress.Progress("train", 1000, "steps", console=out, clock=clock)
    for _ in range(100):  # 100 steps in 10 s: no line before 30 s
        clock.now += 0.1
        bar.update(1, loss=16.31)
    assert terminal.getvalue() == ""
    for _ in range(250):
        clock.now += 0.1
        bar.update(1, loss=12.5, **{"KL (layer sum)": 1.43, "β": 0.78})
    line = terminal.getvalue().strip()
    assert line == ("ptb/della/seed0  train  300/1000 steps  30%  10 steps/s  ETA 1:10  loss 12.50  "
                    "KL (layer sum) 1.43  β 0.78")
    clock.now += 5
    bar.close()  # a phase that printed ends with its last line
    assert terminal.getvalue().splitlines()[-1].startswith("  ptb/della/seed0  train  350/1000 steps  35%")


def test_short_phase_prints_nothing_and_quiet_progress_never():
    terminal = io.StringIO()
    out = progress.Console("x", terminal=terminal, progress_seconds=30)
    bar = progress.Progress("evaluate", 10, "sentences", console=out)
    bar.update(10)
    bar.close()
    assert terminal.getvalue() == ""


@pytest.fixture(scope="module")
def data():
    examples = generate_task("ptb", {"train": 40, "valid": 4, "test": 4}, seed=0)["train"]
    return examples, TextTokenizer.train([e.target for e in examples], vocab_size=280)


SIZES = dict(n_layer=2, n_embd=16, n_head=2, n_positions=64, latent_size=4, dropout=0.1)
TRAIN = dict(steps=12, batch_size=8, lr=0.003, max_length=16, max_source_length=16, checkpoint_every=100)


def _train(tmp_path, data, name, **kw):
    from della.training.loop import train_run

    examples, tok = data
    return train_run(model_name=name, model_kwargs=SIZES, objective=ObjectiveConfig(beta_schedule="cyclical"),
                     train_cfg=TRAIN, tokenizer=tok, train_examples=examples, out_dir=tmp_path, seed=3, **kw)


@contextlib.contextmanager
def captured_console(progress_seconds=0.0):
    terminal = io.StringIO()
    previous = progress._current
    progress._current = progress.Console("ptb/x/seed3", terminal=terminal, progress_seconds=progress_seconds)
    try:
        yield terminal
    finally:
        progress._current = previous


@pytest.mark.parametrize("model, latent", [("lm", False), ("della", True)])
def test_training_lines_show_beta_and_kl_only_for_latent_models(tmp_path, data, model, latent):
    """Item 10: the LM's progress showed ``beta=0.20, kl=0.00``."""
    with captured_console() as terminal:
        _train(tmp_path, data, model, progress=True)
    lines = terminal.getvalue().splitlines()
    assert lines[0] == f"▶ ptb/x/seed3  train {model} 2×16: 12 steps, new run"
    progress_lines = [line for line in lines if "/12 steps" in line]
    assert progress_lines and all("loss" in line for line in progress_lines)
    assert all(("β" in line and "KL (layer sum)" in line) == latent for line in progress_lines)


def test_ctrl_c_stops_at_a_step_with_a_checkpoint_and_resumes_to_the_same_bytes(tmp_path, data, monkeypatch):
    """Ctrl-C during training: the loop finishes the step, saves a checkpoint there and raises Interrupted;
    the next run resumes from it and ends byte-identical to an uninterrupted run."""
    import della.training.loop as loop

    _train(tmp_path / "full", data, "della", progress=False)

    class CtrlCAtStep:
        """Stands in for the SIGINT flag: the loop reads it once per step, after the step."""
        def __init__(self, step):
            self.step, self.reads = step, 0

        @property
        def requested(self):
            self.reads += 1
            return self.reads >= self.step

    monkeypatch.setattr(loop, "deferred_interrupts", lambda: contextlib.nullcontext(CtrlCAtStep(5)))
    with captured_console(progress_seconds=1e9) as terminal:
        with pytest.raises(progress.Interrupted, match="at step 5 of 12 .checkpoint saved at step 5"):
            _train(tmp_path / "resumed", data, "della", progress=True)
    assert not (tmp_path / "resumed" / "model.pt").exists()
    monkeypatch.undo()
    with captured_console() as terminal:
        _train(tmp_path / "resumed", data, "della", progress=True)
    assert "resuming at step 5 of 12" in terminal.getvalue()
    for name in ("model.pt", "train_log.csv"):
        assert (tmp_path / "resumed" / name).read_bytes() == (tmp_path / "full" / name).read_bytes(), name


@pytest.mark.parametrize("stop_at", [4, 5, 12])  # mid-epoch; an epoch's last step; the budget's last step
def test_ctrl_c_at_any_step_with_validation_repeats_no_step_and_ends_byte_identical(tmp_path, data, monkeypatch,
                                                                                  stop_at):
    """Ctrl-C on the last step of an epoch or of the budget (issue 20's guarantee with issue 21's Ctrl-C):
    the checkpoint is saved after that step's validation and epoch count, so the resumed run repeats no
    step and ends with the same model.pt and train_log.csv (the validation column included) as an
    undisturbed one. 40 examples in batches of 8: 5 steps an epoch, 12 steps in all."""
    import della.training.loop as loop

    valid = generate_task("ptb", {"train": 8, "valid": 8, "test": 4}, seed=1)["valid"]
    _train(tmp_path / "full", data, "della", progress=False, valid_examples=valid)

    class CtrlCAtStep:
        def __init__(self, step):
            self.step, self.reads = step, 0

        @property
        def requested(self):  # read once per step, after the step
            self.reads += 1
            return self.reads >= self.step

    monkeypatch.setattr(loop, "deferred_interrupts", lambda: contextlib.nullcontext(CtrlCAtStep(stop_at)))
    with captured_console(progress_seconds=1e9):
        with pytest.raises(progress.Interrupted, match=f"at step {stop_at} of 12"):
            _train(tmp_path / "resumed", data, "della", progress=True, valid_examples=valid)
    monkeypatch.undo()
    with captured_console() as terminal:
        _train(tmp_path / "resumed", data, "della", progress=True, valid_examples=valid)
    assert f"resuming at step {stop_at} of 12" in terminal.getvalue()
    for name in ("model.pt", "train_log.csv"):
        assert (tmp_path / "resumed" / name).read_bytes() == (tmp_path / "full" / name).read_bytes(), name


class Wildcards(dict):
    pass


@pytest.mark.parametrize("error, status, mark, text", [
    (ValueError("bad value in line 3"), 1, "✗", "train failed: ValueError: bad value in line 3 (log: "),
    (KeyboardInterrupt(), 130, "■", "stopped by Ctrl-C during train"),
    (progress.Interrupted("at step 5 of 12"), 130, "■", "stopped by Ctrl-C at step 5 of 12"),
])
def test_a_job_ends_with_one_line_on_the_terminal(tmp_path, monkeypatch, error, status, mark, text):
    terminal = io.StringIO()
    monkeypatch.setattr(progress.sys, "__stderr__", terminal)
    snakemake = SimpleNamespace(log=[str(tmp_path / "job.log")], config={},
                                wildcards=Wildcards(task="ptb", recipe="della", seed="0"))
    stdout, stderr = progress.sys.stdout, progress.sys.stderr
    try:
        with pytest.raises(SystemExit) as exit_info:
            with progress.job_console(snakemake, "train"):
                print("in the log")
                raise error
    finally:
        progress.sys.stdout, progress.sys.stderr = stdout, stderr
    assert exit_info.value.code == status
    assert terminal.getvalue() == f"{mark} ptb/della/seed0  {text}" + (f"{tmp_path / 'job.log'})\n" if status == 1 else "\n")
    log = (tmp_path / "job.log").read_text()
    assert "in the log" in log and ("Traceback" in log) == (status == 1)  # no traceback for Ctrl-C


def _record(msg, event=None, level=logging.INFO):
    record = logging.LogRecord("snakemake.logging", level, __file__, 1, msg, None, None)
    if event is not None:
        record.event = event
    return record


def test_snakemake_chatter_is_dropped_and_errors_kept_until_ctrl_c():
    from snakemake_interface_logger_plugins.common import LogEvent

    interrupt = console.Interrupt()
    chatter = console.SnakemakeChatter(interrupt)
    assert not chatter.filter(_record("job block", LogEvent.JOB_INFO))
    assert not chatter.filter(_record("Execute 2 jobs...", LogEvent.JOB_STARTED))
    assert not chatter.filter(_record("Select jobs to execute..."))
    assert not chatter.filter(_record("3 of 31 steps (10%) done", LogEvent.PROGRESS))
    assert chatter.filter(_record("Job stats: ...", LogEvent.RUN_INFO))
    assert chatter.filter(_record("Building DAG of jobs..."))
    assert chatter.filter(_record("Nothing to be done (all requested files are present and up to date)."))
    assert chatter.filter(_record("Error in rule train", LogEvent.JOB_ERROR, logging.ERROR))
    interrupt.requested = True  # after Ctrl-C the stopped jobs' errors are not errors
    assert not chatter.filter(_record("Error in rule train", LogEvent.JOB_ERROR, logging.ERROR))
    assert not chatter.filter(_record("WorkflowError: At least one job did not complete", level=logging.ERROR))


def test_run_end_line_counts_the_runs_of_this_invocation(tmp_path):
    results = tmp_path / "results"
    for run, ppl in (("ptb/lm/seed0", 21.65), ("ptb/della/seed0", 17.6)):
        folder = results / "runs" / run
        folder.mkdir(parents=True)
        metrics = {"train_steps": 1000, "has_latent": "della" in run, "ppl": ppl, "conditional": False}
        if "della" in run:
            metrics["kl"] = 1.183
        (folder / "metrics.json").write_text(json.dumps(metrics))
        (folder / "train_timing.json").write_text(json.dumps({"seconds": 45.2}))
        (folder / "eval_timing.json").write_text(json.dumps({"seconds": 6.0}))
    old = time.time() - 100  # the LM finished before this invocation
    os.utime(results / "runs/ptb/lm/seed0/metrics.json", (old, old))
    console.write_plan(results, ["ptb/della/seed0", "ptb/embed/seed0"])
    os.utime(results / "runs/ptb/della/seed0/metrics.json")
    assert console.run_finished_line(results / "runs/ptb/della/seed0", results) == (
        "done: 1000 steps (0:45) + evaluation (0:06) · PPL (layer sum) 17.60 · KL (layer sum) 1.18 · 1 of 2 runs done")
    assert console.run_finished_line(results / "runs/ptb/lm/seed0", results).endswith("PPL (layer sum) 21.65 · 1 of 2 runs done")


def test_startup_summary_names_each_tasks_data(tmp_path):
    from della.data.readers import locate_task

    root = tmp_path / "data"
    (root / "ptb").mkdir(parents=True)
    (root / "ptb" / "ptb.train.txt").write_text("a b\n")
    (root / "yelp_sentiment").mkdir()
    (root / "yelp_sentiment" / "sentiment.dev.0").write_text("bad\n")
    config = {"results_dir": "results-x", "seeds": [0], "model": {"n_layer": 2, "n_embd": 64}, "train": {"steps": 100},
              "evaluate": {"max_sentences": 300, "iw_samples": 10, "n_samples": 100}}
    locations = [locate_task(t, root) for t in ("ptb", "yelp", "cnndm")]
    lines = console.startup_summary(config, ["config/quick.yaml"], ["tasks=[ptb,yelp,cnndm]"],
                                    [("ptb", "lm"), ("yelp", "lm"), ("cnndm", "lm")], locations, "data")
    text = "\n".join(lines)
    assert lines[0] == "DELLA-Bench · config config/quick.yaml + --config tasks=[ptb,yelp,cnndm] · results in results-x/"
    assert "ptb    real data (data/ptb/: 1 files)" in text
    assert "yelp   STAND-IN data set (data/yelp_sentiment/: the Shen et al. (2017)" in text
    assert "cnndm  SYNTHETIC stand-in: no file of cnndm under data (data.missing: {cnndm: synthetic}" in text
    assert "3 runs: 3 task(s) × 1 recipe(s) × seeds [0]; train.steps 100" in text


def test_exit_message_after_ctrl_c_gives_the_command_that_continues(tmp_path):
    interrupt = console.Interrupt()
    interrupt.requested = True
    lines = console.exit_message(interrupt, False, tmp_path, ["ptb"], [],
                                 argv=["--cores", "2", "all", "--config", "tasks=[ptb]"])
    assert lines[0].startswith("Interrupted (Ctrl-C)") and lines[-1] == "  snakemake --cores 2 all --config 'tasks=[ptb]'"
