"""The statement splitter, now :mod:`nocodo_agents.schema.split`: this name stays importable as the same module."""

import sys

from .schema import split as _module

sys.modules[__name__] = _module
