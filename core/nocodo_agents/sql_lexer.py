"""The SQL lexer, now :mod:`nocodo_agents.schema.lexer`: this name stays importable as the same module."""

import sys

from .schema import lexer as _module

sys.modules[__name__] = _module
