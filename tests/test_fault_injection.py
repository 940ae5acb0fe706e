"""The short form of benchmarks/fault_injection.py (issue 12): the smoke DAG (1 task x 2 models)
SIGKILLed as a process group twice (once mid-training), restarted with --rerun-incomplete, must
end with every output byte-identical to an undisturbed run (so two runs of one config and seed are
byte-identical too: metrics.json, train_log.csv, samples, tables) and leave no temporary file."""
import importlib.util
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def load_benchmark():
    spec = importlib.util.spec_from_file_location("fault_injection", REPO / "benchmarks" / "fault_injection.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_two_kills_leave_every_output_identical(tmp_path):
    bench = load_benchmark()
    result = bench.fault_injection(tmp_path, kills=2, seed=0, tasks=("ptb",), models=("lm", "embed"))
    bench.print_table(result)
    assert result["compared"] >= 15  # data, tokenizer, 2 x (model, log, metrics, samples), tables
    assert {"runs/ptb/lm/seed0/metrics.json", "runs/ptb/embed/seed0/train_log.csv", "runs/ptb/embed/seed0/samples.jsonl",
            "tables/unconditional.csv"} <= set(bench.fingerprint_outputs(tmp_path / "reference" / bench.RESULTS))
    assert result["differ"] == [] and result["leftovers"] == []
    first = result["rows"][0]
    assert first["running"] and first["checkpoints"], first  # the first kill lands mid-training
    # ... and a later start resumes from a checkpoint (the very next start may itself be killed before
    # its training job logs the resume, so any start after a kill counts)
    assert any("at step" in line for row in result["rows"] for line in row.get("resumed", [])), result["rows"]


# -- phase boundaries (issue 20): a fault after the last optimiser step must cost no training --------


@pytest.fixture(scope="module")
def bench():
    return load_benchmark()


@pytest.fixture(scope="module")
def phase_reference(bench, tmp_path_factory):
    """The undisturbed smoke run of one model (della on ptb) the phase faults are compared with."""
    project = bench.make_project(tmp_path_factory.mktemp("phase") / "reference", ["ptb"], ["della"])
    bench.run_to_end(project)
    return project


def assert_no_training_lost(bench, row):
    bench.print_phase_table([row])
    assert row["fired"], f"the fault {row['phase']!r} was never reached"
    assert row["finished"], row["restarts"]
    assert row["steps_repeated"] == 0, row["what_resumed"]
    assert row["differ"] == [] and row["leftovers"] == [], row


@pytest.mark.slow
def test_a_kill_mid_evaluation_repeats_no_training_step(bench, phase_reference, tmp_path):
    """Issue 20, item 1: SIGKILL while the train job evaluates the model it trained; the restart
    must not train again (and ends identical to an undisturbed run)."""
    assert_no_training_lost(bench, bench.phase_fault(tmp_path, "mid-evaluation", phase_reference))


@pytest.mark.slow
def test_an_evaluation_error_keeps_the_trained_model(bench, phase_reference, tmp_path):
    """Issue 20, item 2: an error raised in every evaluation (the train job's in-process one and the
    evaluate job's) fails the start but must not delete model.pt (Snakemake removes the outputs of a
    failed job); the restart, without the error, only evaluates."""
    row = bench.phase_fault(tmp_path, "evaluation error in both jobs", phase_reference)
    assert row["model_pt_after_fault"], "model.pt was deleted after the evaluation error"
    assert row["faulted_job"] == "raised in the train and evaluate jobs", row  # the error reached the evaluate job
    assert row["restarts"] and not row["restarts"][0]["trained"], row["what_resumed"]  # the restart only evaluated
    assert_no_training_lost(bench, row)


@pytest.mark.slow
def test_a_kill_before_the_checkpoint_is_removed_resumes_cleanly(bench, phase_reference, tmp_path):
    """Issue 20, item 3: SIGKILL after model.pt is written, just before the training checkpoint is
    removed; every restart used to resume at the last step and fail on the missing best.pt."""
    assert_no_training_lost(bench, bench.phase_fault(tmp_path, "before checkpoint cleanup", phase_reference))


@pytest.mark.slow
def test_a_changed_validation_split_is_not_resumed(bench, tmp_path):
    """Issue 20, item 5: killed after the first validation (its figure is in the checkpoint), the
    validation split changes (data.max_examples.valid); the restart must not resume from that
    checkpoint, whose best-so-far was chosen on the other validation set."""
    project = bench.make_project(tmp_path / "project", ["ptb"], ["embed"])
    # 48 / 16 = 3 steps an epoch, a checkpoint at every step and one after each epoch's validation:
    # the 4th checkpoint written holds the first validation figure
    rc, _ = bench.start(project, tmp_path / "start0.log", {
        "PYTHONPATH": str(bench.HOOK), "DELLA_FAULT": "kill:after:replace:*/runs/*/checkpoint.pt",
        "DELLA_FAULT_COUNT": "4"})
    assert rc != 0 and (project / bench.RESULTS / "runs/ptb/embed/seed0/checkpoint.pt").exists()
    config_path = project / "config" / "fault.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["data"]["max_examples"]["valid"] = 4  # of the twin's 8
    config_path.write_text(yaml.safe_dump(config))
    rc, console = bench.start(project, tmp_path / "start1.log")
    assert rc == 0, console[-3000:]
    log = (project / bench.RESULTS / "logs/train/ptb/embed/seed0.log").read_text()
    assert ": resuming from" not in log, log[:3000]
    assert "not resuming" in log and "valid" in log.split("not resuming", 1)[1].splitlines()[0]
