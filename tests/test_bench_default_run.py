"""benchmarks/bench_default_run.py counts the jobs of one run only."""
import importlib.util
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bench_default_run", REPO / "benchmarks" / "bench_default_run.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_job_table_skips_benchmark_files_older_than_the_run(tmp_path):
    """A recipe removed from the config leaves its old benchmark files behind: they are not jobs of
    the run being measured."""
    for name, mtime in (("old", 1_000), ("new", 2_000)):
        tsv = tmp_path / "benchmarks" / "train" / "ptb" / name / "seed0.tsv"
        tsv.parent.mkdir(parents=True)
        tsv.write_text("s\tcpu_time\n3.5\t3.0\n")
        os.utime(tsv, (mtime, mtime))
        log = tmp_path / "logs" / "train" / "ptb" / name / "seed0.log"
        log.parent.mkdir(parents=True)
        log.write_text("[timing] imports_cpu_s=1.0\n[timing] train_cpu_s=2.5\n[timing] cpu_s=3.2\n")
    jobs = bench.job_table(tmp_path, since=1_500)
    assert list(jobs.job) == ["train/ptb/new/seed0"]
    row = jobs.iloc[0]
    assert (row.cpu_s, row.import_cpu_s, row.train_cpu_s) == (3.2, 1.0, 1.5) and abs(row.eval_cpu_s - 0.7) < 1e-9
    assert len(bench.job_table(tmp_path)) == 2  # no run start known: every file
