"""The built-in demo: a small API on 127.0.0.1 to point loadlens at."""
