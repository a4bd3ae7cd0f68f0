"""``python -m duplex``: the same as the ``duplex`` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
