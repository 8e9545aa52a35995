"""``python -m triochat`` is the same as the ``triochat`` command."""

import sys

from .cli._main import main

sys.exit(main())
