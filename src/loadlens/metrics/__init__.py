"""Measurement: result records, HDR histograms, per-second series, merge and thresholds."""
