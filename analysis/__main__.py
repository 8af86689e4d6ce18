"""Command line: ``python -m analysis COMMAND ...`` (see ``python -m analysis --help``)."""

import sys

from analysis.cli import main

sys.exit(main())
