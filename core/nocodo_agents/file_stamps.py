"""What ``stat`` says of the files and directories migrations are listed from, so a change is never missed.

A registry keeps the migrations it listed for the life of the process; it
lists a package again, reads a ``.sql`` file again or imports a module again
when one of these stamps moved (:func:`directories_changed`).
"""

from __future__ import annotations

import os
import time

__all__ = ["DirectoryStamp", "FileStamp", "RACY_NS", "directories_changed", "file_stamp"]

#: What ``stat`` says of a file or directory that any change of its content or listing moves: the
#: modification and change times (ns), the size and the inode. The modification time alone misses an
#: edit whose time was put back (``cp -p``, ``rsync -a``, ``tar -x`` of an archive built with one fixed
#: ``SOURCE_DATE_EPOCH``) and a directory switched for another by a symlink (another release, same times):
#: the change time cannot be set back, and a file or directory put in another's place has another inode.
FileStamp = tuple[int, int, int, int]
DirectoryStamp = tuple[tuple[str, FileStamp], ...]


def file_stamp(status: os.stat_result) -> FileStamp:
    """The :data:`FileStamp` of a ``stat`` result."""
    return (status.st_mtime_ns, status.st_ctime_ns, status.st_size, status.st_ino)



def directories_changed(directories: DirectoryStamp) -> bool:
    """Whether any of ``directories`` was modified (or removed, or replaced) since its :data:`FileStamp` was read."""
    stat = os.stat
    try:
        for path, stamp in directories:
            if file_stamp(stat(path)) != stamp:
                return True
    except OSError:
        return True
    return False


#: A directory modified less than this long ago (ns) could change again within the same tick of the
#: file system's clock without its modification time moving (Linux stamps files with a coarse clock,
#: some file systems keep seconds): it is recorded as already changed, so it is listed again next time.
#: The same rule keeps the installed agents' registry (:func:`~nocodo_agents.agent_entries.sys_path_stamp`).
RACY_NS = 2_000_000_000
#: The modification time recorded for such a directory; no real one equals it.
_UNSETTLED: FileStamp = (-1, -1, -1, -1)


def _stamp(path: str) -> FileStamp:
    """``path``'s :data:`FileStamp`, or :data:`_UNSETTLED` if modified too recently to rely on it."""
    status = os.stat(path)
    return file_stamp(status) if time.time_ns() - status.st_mtime_ns >= RACY_NS else _UNSETTLED
