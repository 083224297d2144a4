"""Knowing from a test thread that a runner waits for another runner's migration lock.

On PostgreSQL a waiting runner polls the lock in short transactions (see
``dialects/postgresql/lock.py``), so ``pg_stat_activity`` never shows it in a
lock wait; what it does say, once, is the log line "waiting up to ... for
another runner's migration lock".
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _WaitLogged(logging.Handler):
    def __init__(self, event: threading.Event) -> None:
        super().__init__(level=logging.INFO)
        self.event = event

    def emit(self, record: logging.LogRecord) -> None:
        if "for another runner's" in record.getMessage():
            self.event.set()


@contextmanager
def lock_wait_logged() -> Iterator[threading.Event]:
    """An event set when the runner (in this process) logs that it waits for the migration lock."""
    event = threading.Event()
    logger = logging.getLogger("nocodo_agents")
    handler = _WaitLogged(event)
    saved_level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield event
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved_level)
