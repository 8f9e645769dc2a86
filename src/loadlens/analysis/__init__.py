"""Reading a run: the verdict on the generator, and (later) findings about the target."""
