"""``python -m edge_tracker.evaluation``: the same command as ``edge-tracker eval`` (``cli.py``)."""

import sys

from edge_tracker.evaluation.cli import main

if __name__ == "__main__":
    sys.exit(main())
