"""What a run folder (``results/runs/{task}/{recipe}/seed{seed}/``) holds between its train and
evaluate jobs, and who removes what — so that nothing after training can cost the training.

Snakemake deletes the declared outputs of a job that fails or is killed (and, with
``--rerun-incomplete``, before it reruns it). The train job's outputs are therefore only the
training artefacts (``model.pt``, ``train_log.csv``, ``train_timing.json``), and two things it
leaves beside them are **not** outputs:

* the resume state, ``checkpoint.pt`` (at the last step when training ended) and ``best.pt``
  (the best weights on validation). A train job killed or failing after its last optimiser step
  is rerun by Snakemake; the rerun resumes at the last step and writes ``model.pt`` again without
  repeating a step (della/training/loop.py). ``remove_training_state`` deletes them only once the
  train job is complete: in the evaluate job (a later job, which Snakemake starts only after the
  train job is recorded finished) or at the end of ``python -m della.training.cli``;
* ``train_job_evaluation/``: the evaluation the train job made of the model it trained, in the
  same process (one process per run saves ~5 s of imports: issue 9). Each file is renamed into
  place and ``stamp.json`` (``della.provenance.evaluation_stamp``: settings, code hash, input
  checksums) is written last, so a stamp means the files beside it are complete. An error in that
  evaluation is logged and leaves no stamp; the evaluate job then evaluates anew and reports it.
  The evaluate job copies the files when its own stamp is equal (``take_train_job_evaluation``)
  and then removes the folder.

No torch here: the evaluate job only copies files when nothing changed, in a fraction of a second.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from della.io import atomic_write_text

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
TRAIN_JOB_EVALUATION = "train_job_evaluation"
STAMP = "stamp.json"


def remove_training_state(run_dir) -> list[str]:
    """Delete ``checkpoint.pt`` then ``best.pt`` (a checkpoint never outlives the best weights it
    refers to); returns the names removed. Call only when ``model.pt`` is complete and nothing can
    delete it any more (the train job finished). Stale checkpoints (``checkpoint.stale-*.pt``, moved
    aside after a settings change) are kept: they may be hours of training."""
    removed = []
    for name in (CHECKPOINT, BEST):
        path = Path(run_dir) / name
        if path.exists():
            path.unlink()
            removed.append(name)
    return removed


def train_job_evaluation_dir(run_dir) -> Path:
    return Path(run_dir) / TRAIN_JOB_EVALUATION


def read_stamp(folder) -> dict | None:
    path = Path(folder) / STAMP
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def begin_train_job_evaluation(folder) -> Path:
    """An empty ``folder`` for a new evaluation: the stamp goes first, so that files being
    replaced are never taken for a stamped evaluation."""
    folder = Path(folder)
    (folder / STAMP).unlink(missing_ok=True)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def finish_train_job_evaluation(folder, stamp: dict) -> None:
    """Stamp a complete evaluation (its files are in place)."""
    atomic_write_text(Path(folder) / STAMP, json.dumps(stamp, indent=1, sort_keys=True) + "\n")


def discard_train_job_evaluation(folder) -> None:
    """Remove whatever an evaluation left (after an error in it, or once the evaluate job took it)."""
    folder = Path(folder)
    (folder / STAMP).unlink(missing_ok=True)
    if folder.exists():
        shutil.rmtree(folder)


def take_train_job_evaluation(folder, stamp: dict, outputs: list) -> tuple[bool, str]:
    """Copy the train job's evaluation in ``folder`` to ``outputs`` (the evaluate job's files, found
    in the folder by name) when it was stamped with ``stamp``. Returns (copied, why not)."""
    folder = Path(folder)
    done = read_stamp(folder)
    if done is None:
        return False, (f"no stamped evaluation from the train job in {folder} (an earlier evaluate job took it, or "
                       "the train job's evaluation failed or was killed: its log says which)")
    if done != stamp:
        changed = [part for part in ("run", "code", "inputs") if done.get(part) != stamp.get(part)]
        return False, f"{', '.join(changed)} changed since the train job evaluated this run"
    missing = [Path(out).name for out in outputs if not (folder / Path(out).name).is_file()]
    if missing:
        return False, f"the train job's evaluation lacks {', '.join(missing)}"
    for out in outputs:
        shutil.copyfile(folder / Path(out).name, out)
    return True, ""
