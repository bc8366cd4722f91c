"""`python -m gyeol`: the gyeol command line (gyeol.cli)."""

import sys

from .cli import main

if __name__ == "__main__":  # importing the module (pkgutil.walk_packages) runs nothing
    sys.exit(main())
