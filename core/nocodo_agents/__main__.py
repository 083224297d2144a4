"""``python -m nocodo_agents``: the same as the ``nocodo-agents`` command."""

import sys

from .cli import main

sys.exit(main())
