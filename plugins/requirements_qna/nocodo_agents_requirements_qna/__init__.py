"""The requirements Q&A agent: asks users clarifying questions about project requirements.

Its migrations are contributed to nocodo-agents through the ``nocodo_agents``
entry point (see :mod:`.plugin`); :class:`RequirementsQnaStore` stores the
questions and answers.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .storage import MissingQnaTableError, Question, RequirementsQnaStore

__all__ = ["MissingQnaTableError", "Question", "RequirementsQnaStore"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import storage

        return getattr(storage, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
