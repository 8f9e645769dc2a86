"""Where runs are kept: the run store."""
