"""Entry point for `python -m models`."""
import sys

from .cli import main

sys.exit(main())
