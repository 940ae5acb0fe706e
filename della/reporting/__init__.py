"""Reporting: runs' metrics.json -> tables, the paper's tables, plots, studies.

  tables.py        the comparison tables (unconditional, conditional), seeds aggregated
  paper_tables.py  the paper's tables 1, 2, 4, 5, 8, 9 beside the paper's numbers (CSV, Markdown, LaTeX)
  plots.py         per-task figures
  depth_study.py   the depth study's table and figure
"""
