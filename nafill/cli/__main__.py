"""``python -m nafill.cli``: the same as the ``nafill`` command."""

import sys

from nafill.cli import main

sys.exit(main())
