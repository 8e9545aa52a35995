"""``python -m triochat`` is the same as the ``triochat`` command."""

import sys

from ._cli import main

sys.exit(main())
