"""Evaluation: one trained run -> metrics.json and samples.

  evaluate.py       ``evaluate_saved_run`` / ``evaluate_run``: the scored subset, every metric, samples
  latent.py         IW-PPL, ELBO, KL, MI, AU: one code path for every latent model
  text_metrics.py   BLEU / Self-BLEU (exactly NLTK's), distinct-n, Jaccard, sacreBLEU, ROUGE
  model_metrics.py  BERTScore, MAUVE, CND from local model folders (off by default)
  decoding.py       greedy, beam, top-k / top-p with a key/value cache
"""
