"""``python -m edge_tracker``: the same command line as the ``edge-tracker`` script."""

import sys

from edge_tracker.cli import main

if __name__ == "__main__":
    sys.exit(main())
