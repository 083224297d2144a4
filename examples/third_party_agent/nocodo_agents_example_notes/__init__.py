"""An example nocodo-agents agent: notes kept per agent session (table ``example_notes``).

Its migrations reach nocodo-agents through the ``nocodo_agents`` entry point
(see :mod:`.plugin`); :class:`NotesStore` reads and writes the notes.
"""

from .store import Note, NotesStore

__all__ = ["Note", "NotesStore"]
