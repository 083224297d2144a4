"""Waiting for another runner's lock, written once: try at once, say that we wait, wait, or give up by name.

Every dialect takes its lock the same way (SQLite's write lock, PostgreSQL's
advisory lock, MySQL's ``GET_LOCK``): one try that does not wait; if the lock
is held, one log line ("waiting up to ... s for another runner's ... on
...", which tests and operators look for), then a wait of at most
``lock_timeout``; a wait that ends without the lock raises
:class:`~nocodo_agents.LockTimeoutError`. What differs is only how a
dialect tries and waits: the two primitives passed to :func:`take_lock`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Callable

from ..errors import LockTimeoutError

logger = logging.getLogger("nocodo_agents")


class LockStillHeld(Exception):
    """Raised by a ``wait`` primitive: the lock was still held when the wait ended.

    ``cause`` is what the server said, if anything (it ends up in the
    :class:`LockTimeoutError`'s message).
    """

    def __init__(self, cause: BaseException | str | None = None) -> None:
        super().__init__(cause)
        self.cause = cause


def take_lock(
    try_now: Callable[[], bool],
    wait: Callable[[float], None],
    *,
    dialect: str,
    lock_timeout: float,
    lock: str,
    where: Callable[[], str],
) -> None:
    """Take a lock: at once if it is free, else after logging that we wait, within ``lock_timeout`` seconds.

    ``try_now()`` tries without waiting and says whether the lock was taken;
    ``wait(lock_timeout)`` returns with the lock taken or raises
    :class:`LockStillHeld`. ``lock`` names the lock in the log line ("write
    lock", "migration lock 'name'"), ``where()`` the database (asked only
    when the line is logged). Raises :class:`LockTimeoutError` (from
    the server's error, if one said so) when the wait ends without it.
    """
    if try_now():
        return
    logger.info("waiting up to %g s for another runner's %s on %s", lock_timeout, lock, where())
    try:
        wait(lock_timeout)
    except LockStillHeld as held:
        cause = held.cause if isinstance(held.cause, BaseException) else None
        raise LockTimeoutError(dialect=dialect, waited_seconds=lock_timeout, cause=held.cause) from cause


#: Pauses between polls, in seconds: the first, and the longest (each twice the one before).
FIRST_PAUSE = 0.01
LONGEST_PAUSE = 0.25


def pauses(deadline: float) -> Iterator[float]:
    """Sleep between polls until ``deadline`` (``time.monotonic()``), yielding the time left after each pause.

    The pauses start at :data:`FIRST_PAUSE` and double up to
    :data:`LONGEST_PAUSE`; the generator ends once the deadline has passed.
    """
    pause = FIRST_PAUSE
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        time.sleep(min(pause, remaining))
        pause = min(pause * 2, LONGEST_PAUSE)
        yield deadline - time.monotonic()


def poll_until(attempt: Callable[[], bool], lock_timeout: float, started: float | None = None) -> None:
    """Call ``attempt`` after each of :func:`pauses` until it returns true; :class:`LockStillHeld` once the time is up.

    The wait lasts ``lock_timeout`` seconds from ``started`` (``time.monotonic()``; now by default).
    """
    deadline = (time.monotonic() if started is None else started) + lock_timeout
    for _ in pauses(deadline):
        if attempt():
            return
    raise LockStillHeld()
