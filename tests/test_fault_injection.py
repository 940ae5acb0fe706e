"""The short form of benchmarks/fault_injection.py (issue 12): the smoke DAG (1 task x 2 models)
SIGKILLed as a process group twice (once mid-training), restarted with --rerun-incomplete, must
end with every output byte-identical to an undisturbed run (so two runs of one config and seed are
byte-identical too: metrics.json, train_log.csv, samples, tables) and leave no temporary file."""
import importlib.util
from pathlib import Path

import pytest

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
