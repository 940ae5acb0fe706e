"""Training: objectives, the loop, checkpoints, processes.

  objectives.py    beta schedules (constant, linear, cyclical, Optimus) and tricks (free bits, BoW, KL groups)
  loop.py          ``train_run``: the training loop and best-on-validation selection
  checkpoints.py   checkpoint fingerprints and resume, ``load_trained`` (model.pt)
  distributed.py   device choice, torchrun and DDP processes
  cli.py           ``python -m della.training.cli``: one run outside Snakemake (e.g. under torchrun)
"""
