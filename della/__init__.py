"""DELLA-Bench: DELLA (Hu et al., NAACL 2022) and Transformer-VAE baselines, trained and
evaluated on the paper's seven tasks by one Snakemake DAG.

The packages follow the pipeline (each one's ``__init__`` lists its modules):
  della/data/        tasks, upstream readers, synthetic twins, downloads, tokenizer, batching
  della/models/      the model interface, backbones, DELLA (della/models/della.py: the whole forward pass), registry
  della/training/    objectives, the training loop, checkpoints, distributed processes
  della/evaluation/  likelihood and latent metrics, text metrics, decoding, evaluate one run
  della/reporting/   tables, the paper's tables, plots, the depth study
  della/config.py    the workflow config: loading, validation, recipes -> runs
  della/paths.py, della/provenance.py, della/io.py   config paths; code and data hashes; atomic writes
  della/run_folder.py what a run folder holds between its train and evaluate jobs, and who removes it
  baselines/         one file per baseline, registered by name
"""

__version__ = "0.1.0"
