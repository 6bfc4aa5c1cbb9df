"""Scoring and reports: sacrebleu scores with signatures, honest baselines, Markdown/JSON tables."""
