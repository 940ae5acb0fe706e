"""DELLA-Bench: DELLA (Hu et al., NAACL 2022) and Transformer-VAE baselines, trained and
evaluated on the paper's seven tasks by one Snakemake DAG.

Where to read what:
  della/model.py        DELLA's whole forward pass (one file)
  della/vae.py          the interface every model implements, Gaussian helpers
  della/backbone.py     the GPT-2 stack (transformers' blocks) shared by every model
  della/objectives.py   KL schedules and training tricks (annealing, free bits, BoW)
  della/latent_eval.py  IW-PPL, ELBO, KL, MI, AU: one code path for every latent model
  della/metrics.py      BLEU, Self-BLEU, distinct-n, Jaccard, ROUGE (text metrics)
  baselines/            one file per baseline, registered by name
"""

__version__ = "0.1.0"
