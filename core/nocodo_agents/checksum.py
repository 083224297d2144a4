"""Migration checksums identical to Rust refinery's.

refinery hashes ``name``, ``version`` and ``sql`` with ``SipHasher13`` (zero
keys) through Rust's ``Hash`` trait: a ``str`` feeds its UTF-8 bytes then
``0xFF``; the version, an ``i32`` (or an ``i64`` when refinery is built with
its ``int8-versions`` feature), feeds its 4 (8) little-endian bytes. No maintained Python
package offers SipHash-1-3 (only 2-4), so the ~20 lines live here.

The checksum is a pure function of its arguments, and the same migrations are
checksummed again and again within one process (a test suite creating a fresh
database per test, an application opening several databases): results are
remembered in a bounded table keyed on the arguments themselves (:data:`_REMEMBERED`),
so a migration seen before costs one dictionary lookup instead of ~20 µs of
pure-Python hashing.
"""

from __future__ import annotations

from struct import unpack_from

from .errors import InvalidArgumentError

_MASK = 0xFFFFFFFFFFFFFFFF

#: Checksums computed in this process, by (name, version, sql, int8_versions); emptied when it
#: reaches :data:`_REMEMBER_AT_MOST` entries, so its memory stays bounded whatever runs.
_REMEMBERED: dict[tuple[str, int, str, bool], int] = {}
_REMEMBER_AT_MOST = 8192


def _siphash13(data: bytes) -> int:
    """SipHash-1-3 of ``data`` with key (0, 0), as Rust's ``siphasher::sip::SipHasher13::new()``.

    The rounds are written out (no call, no tuple per round) and the whole
    8-byte words are read in one :func:`struct.unpack_from` call: about a fifth of the
    per-migration cost of a fresh database's run was this function.
    """
    length = len(data)
    whole = length >> 3
    mask = _MASK
    v0, v1, v2, v3 = 0x736F6D6570736575, 0x646F72616E646F6D, 0x6C7967656E657261, 0x7465646279746573
    for m in (*unpack_from(f"<{whole}Q", data), ((length & 0xFF) << 56) | int.from_bytes(data[whole << 3 :], "little")):
        v3 ^= m
        # one compression round (the "1"), as the finalization rounds below
        v0 = (v0 + v1) & mask
        v1 = ((v1 << 13) & mask | v1 >> 51) ^ v0
        v0 = (v0 << 32) & mask | v0 >> 32
        v2 = (v2 + v3) & mask
        v3 = ((v3 << 16) & mask | v3 >> 48) ^ v2
        v0 = (v0 + v3) & mask
        v3 = ((v3 << 21) & mask | v3 >> 43) ^ v0
        v2 = (v2 + v1) & mask
        v1 = ((v1 << 17) & mask | v1 >> 47) ^ v2
        v2 = (v2 << 32) & mask | v2 >> 32
        v0 ^= m
    v2 ^= 0xFF
    for _ in (1, 2, 3):  # three finalization rounds: the "3"
        v0 = (v0 + v1) & mask
        v1 = ((v1 << 13) & mask | v1 >> 51) ^ v0
        v0 = (v0 << 32) & mask | v0 >> 32
        v2 = (v2 + v3) & mask
        v3 = ((v3 << 16) & mask | v3 >> 48) ^ v2
        v0 = (v0 + v3) & mask
        v3 = ((v3 << 21) & mask | v3 >> 43) ^ v0
        v2 = (v2 + v1) & mask
        v1 = ((v1 << 17) & mask | v1 >> 47) ^ v2
        v2 = (v2 << 32) & mask | v2 >> 32
    return v0 ^ v1 ^ v2 ^ v3


def checksum(name: str, version: int, sql: str, int8_versions: bool = False) -> int:
    """Return refinery's checksum of a migration: an unsigned 64-bit integer.

    ``int8_versions=False`` hashes the version as refinery's default ``i32``
    (it must fit one); ``True`` as the ``i64`` of refinery built with
    ``int8-versions``, the encoding of a history whose version column is
    64-bit. The history table stores the decimal text of the result. A
    version that does not fit the encoding raises
    :class:`~nocodo_agents.InvalidArgumentError`.
    """
    low, high = (-(2**63), 2**63 - 1) if int8_versions else (-(2**31), 2**31 - 1)
    if isinstance(version, bool) or not isinstance(version, int) or not low <= version <= high:
        raise InvalidArgumentError(
            argument="version",
            value=version,
            expected=(
                f"an integer from {low} to {high} (refinery's {'i64' if int8_versions else 'i32'}"
                + ("" if int8_versions else "; pass int8_versions=True for a 64-bit history")
                + ")"
            ),
        )
    key = (name, version, sql, bool(int8_versions))  # after the check: True == 1 would find version 1's checksum
    remembered = _REMEMBERED.get(key)
    if remembered is not None:
        return remembered
    data = (
        name.encode("utf-8")
        + b"\xff"
        + version.to_bytes(8 if int8_versions else 4, "little", signed=True)
        + sql.encode("utf-8")
        + b"\xff"
    )
    result = _siphash13(data)
    if len(_REMEMBERED) >= _REMEMBER_AT_MOST:
        _REMEMBERED.clear()
    _REMEMBERED[key] = result
    return result
