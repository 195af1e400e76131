"""``python -m emotion``: see :mod:`emotion.cli`."""

import sys

from emotion.cli import main

sys.exit(main())
