"""``python -m losslab``: the command line (see :mod:`losslab.cli`)."""

from .cli import main

if __name__ == "__main__":
    main()
