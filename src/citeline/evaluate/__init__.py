"""Evaluation with statistics: datasets, metrics, judges and their calibration, paired
comparisons with intervals, and a release gate. See ``citeline eval --help``."""
