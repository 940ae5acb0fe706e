"""Data: the seven tasks, from upstream files (or their synthetic twins) to padded batches.

  tasks.py      the seven tasks' specs (conditional or not, folders) and ``Example``
  readers.py    readers of the upstream formats, split handling, ``prepare_task`` (results/data/{task}/)
  synthetic.py  the offline demo: synthetic twins generated from known latent factors
  download.py   fetching the data sets with a public download, with the paper's preprocessing
  tokenizer.py  the task's BPE tokenizer (trained on its training split) or a pretrained one
  batching.py   examples -> ids -> padded ``Batch`` (one module for training and evaluation)
"""
