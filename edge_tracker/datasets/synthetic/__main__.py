"""Entry point of ``python -m edge_tracker.datasets.synthetic`` (see :mod:`.cli`)."""

import sys

from edge_tracker.datasets.synthetic.cli import main

sys.exit(main())
