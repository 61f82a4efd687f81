"""``python -m calibration``: see ``calibration/cli.py``."""

import sys

from calibration.cli import main

if __name__ == "__main__":
    sys.exit(main())
