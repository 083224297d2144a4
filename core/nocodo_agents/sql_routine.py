"""The routine-body reader, now :mod:`nocodo_agents.schema.routine`: this name stays importable as the same module."""

import sys

from .schema import routine as _module

sys.modules[__name__] = _module
