"""Ways of showing a run: the live terminal view, the summary, the result file."""
