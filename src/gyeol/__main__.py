"""`python -m gyeol`: the gyeol command line (gyeol.cli)."""

import sys

from .cli import main

sys.exit(main())
