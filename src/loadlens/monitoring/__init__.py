"""Target-side monitors: what the server did while the load ran, second by second."""
