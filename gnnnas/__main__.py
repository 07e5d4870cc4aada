"""``python -m gnnnas`` is the ``gnnnas`` command."""

import sys

from gnnnas.cli import main

sys.exit(main())
