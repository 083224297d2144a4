"""The transaction-control checks, now :mod:`nocodo_agents.schema.transaction_control`: this name stays importable as the same module."""

import sys

from .schema import transaction_control as _module

sys.modules[__name__] = _module
