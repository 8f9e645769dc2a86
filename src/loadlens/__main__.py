"""Entry point for `python -m loadlens`."""

from loadlens.cli import main

if __name__ == "__main__":
    main()
