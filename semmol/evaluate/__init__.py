"""Evaluation: metrics, the fingerprint baseline, aggregation into the results table, plots."""
