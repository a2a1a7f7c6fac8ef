"""``python -m lstm_inspector`` is the ``lstm-inspector`` command."""
import sys

from .cli import main

sys.exit(main())
