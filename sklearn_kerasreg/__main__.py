"""``python -m sklearn_kerasreg``: the command line of :mod:`sklearn_kerasreg._cli`."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
