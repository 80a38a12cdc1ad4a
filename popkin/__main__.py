"""``python -m popkin``: the same as the ``popkin`` command."""

import sys

from popkin.cli import main

sys.exit(main())
