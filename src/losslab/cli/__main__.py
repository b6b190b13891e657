"""``python -m losslab.cli``: the command line."""

from . import main

main()
