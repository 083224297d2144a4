"""The session-state checks, now :mod:`nocodo_agents.schema.session_state`: this name stays importable as the same module."""

import sys

from .schema import session_state as _module

sys.modules[__name__] = _module
