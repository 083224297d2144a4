"""What a call into plugin or migration code may raise, and how to name it in an error.

Plugin code (an entry point's import, its hook, a migration module's import,
its ``migration()``/``rollback()``) runs inside the host process. Besides
ordinary exceptions it may raise :class:`SystemExit` (``sys.exit()``,
``exit()``), which ``except Exception`` does not catch and which would end
the whole command silently with the plugin's exit code. Every place that
calls plugin code catches :data:`PLUGIN_FAULTS` and turns the fault into a
named error. :class:`KeyboardInterrupt` is left alone: it belongs to the user.
"""

from __future__ import annotations

#: Caught around every call into plugin or migration code.
PLUGIN_FAULTS: tuple[type[BaseException], ...] = (Exception, SystemExit)


def describe_fault(error: BaseException) -> str:
    """``raised ValueError: ...`` or ``called sys.exit(3)``, to follow what was being done."""
    if isinstance(error, SystemExit):
        return (
            f"called sys.exit({error.code!r}) (plugin code must raise an exception, never end the "
            f"process)"
        )
    return f"raised {type(error).__name__}: {error}"
