"""``python -m gaugetest`` = the ``gaugetest`` command."""
import sys

from .cli import main

sys.exit(main())
