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

from collections.abc import Sequence
from struct import pack, unpack_from

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


#: Below this many texts of one length class, :func:`_siphash13_many` hashes them one by one.
_LANES_AT_LEAST = 4
_LANE_BITS = 128  # a 64-bit value and room above it for carries and shifted-out bits, masked away


def _siphash13_many(texts: Sequence[bytes]) -> list[int]:
    """:func:`_siphash13` of each of ``texts``, the texts of one block count hashed side by side.

    The texts whose block count is the same run through the same rounds, so
    they are packed as 128-bit lanes of one Python integer and every step of
    the rounds is done for all of them at once: an addition keeps its carry
    in its lane's upper half, a rotation's bits shifted out land in an upper
    half, and both are masked away (``lanes_mask``). A few big-integer
    operations over n lanes cost far less than n times the small ones.
    """
    results = [0] * len(texts)
    by_blocks: dict[int, list[int]] = {}
    for index, data in enumerate(texts):
        by_blocks.setdefault((len(data) >> 3) + 1, []).append(index)
    for blocks, indexes in by_blocks.items():
        if len(indexes) < _LANES_AT_LEAST:
            for index in indexes:
                results[index] = _siphash13(texts[index])
            continue
        for index, value in zip(indexes, _lanes(blocks, [texts[index] for index in indexes])):
            results[index] = value
    return results


def _lanes(blocks: int, texts: list[bytes]) -> list[int]:
    """:func:`_siphash13` of ``texts``, each of ``blocks`` 8-byte blocks (its last holding the length), side by side."""
    count = len(texts)
    ones = int.from_bytes((b"\x01" + bytes(15)) * count, "little")  # 1 in every lane
    mask = _MASK * ones
    words = [unpack_from(f"<{blocks - 1}Q", data) + (((len(data) & 0xFF) << 56) | int.from_bytes(data[(blocks - 1) << 3 :], "little"),) for data in texts]
    v0, v1, v2, v3 = 0x736F6D6570736575 * ones, 0x646F72616E646F6D * ones, 0x6C7967656E657261 * ones, 0x7465646279746573 * ones
    packing = f"<{2 * count}Q"
    for block in range(blocks):
        spread = [0] * (2 * count)
        spread[0::2] = [lane[block] for lane in words]
        m = int.from_bytes(pack(packing, *spread), "little")
        v0, v1, v2, v3 = _lanes_round(v0, v1, v2, v3 ^ m, mask)  # one compression round (the "1")
        v0 ^= m
    v2 ^= 0xFF * ones
    for _ in (1, 2, 3):  # three finalization rounds: the "3"
        v0, v1, v2, v3 = _lanes_round(v0, v1, v2, v3, mask)
    return list(unpack_from(packing, (v0 ^ v1 ^ v2 ^ v3).to_bytes(16 * count, "little"))[0::2])


def _lanes_round(v0: int, v1: int, v2: int, v3: int, mask: int) -> tuple[int, int, int, int]:
    """One SipRound on every lane at once (:func:`_siphash13`'s, its additions and rotations masked per lane)."""
    v0 = (v0 + v1) & mask
    v1 = ((v1 << 13 | v1 >> 51) & mask) ^ v0
    v0 = (v0 << 32 | v0 >> 32) & mask
    v2 = (v2 + v3) & mask
    v3 = ((v3 << 16 | v3 >> 48) & mask) ^ v2
    v0 = (v0 + v3) & mask
    v3 = ((v3 << 21 | v3 >> 43) & mask) ^ v0
    v2 = (v2 + v1) & mask
    v1 = ((v1 << 17 | v1 >> 47) & mask) ^ v2
    v2 = (v2 << 32 | v2 >> 32) & mask
    return v0, v1, v2, v3


def checksum(name: str, version: int, sql: str, int8_versions: bool = False) -> int:
    """Return refinery's checksum of a migration: an unsigned 64-bit integer.

    ``int8_versions=False`` hashes the version as refinery's default ``i32``
    (it must fit one); ``True`` as the ``i64`` of refinery built with
    ``int8-versions``, the encoding of a history whose version column is
    64-bit. The history table stores the decimal text of the result. A
    version that does not fit the encoding raises
    :class:`~nocodo_agents.InvalidArgumentError`.
    """
    _check_version(version, int8_versions)
    key = (name, version, sql, bool(int8_versions))  # after the check: True == 1 would find version 1's checksum
    remembered = _REMEMBERED.get(key)
    if remembered is not None:
        return remembered
    result = _siphash13(_hashed(*key))
    _remember(key, result)
    return result


def checksums(migrations: Sequence[tuple[str, int, str, bool]]) -> list[int]:
    """:func:`checksum` of each ``(name, version, sql, int8_versions)``, those not remembered hashed side by side.

    The same values as :func:`checksum` one by one, and the same error for
    the first version that does not fit its encoding (raised before any is hashed).
    """
    keys = []
    for name, version, sql, int8_versions in migrations:
        _check_version(version, int8_versions)
        keys.append((name, version, sql, bool(int8_versions)))
    results = [_REMEMBERED.get(key) for key in keys]
    unknown = [index for index, result in enumerate(results) if result is None]
    for index, result in zip(unknown, _siphash13_many([_hashed(*keys[index]) for index in unknown])):
        results[index] = result
        _remember(keys[index], result)
    return results  # type: ignore[return-value]  # every None was replaced above


def _check_version(version: int, int8_versions: bool) -> None:
    """Refuse a version that does not fit its encoding (``i64`` for ``int8_versions``, else ``i32``)."""
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


def _hashed(name: str, version: int, sql: str, int8_versions: bool) -> bytes:
    """What refinery feeds the hasher: the name, the version and the SQL, as Rust's ``Hash`` writes them."""
    return name.encode("utf-8") + b"\xff" + version.to_bytes(8 if int8_versions else 4, "little", signed=True) + sql.encode("utf-8") + b"\xff"


def _remember(key: tuple[str, int, str, bool], result: int) -> None:
    if len(_REMEMBERED) >= _REMEMBER_AT_MOST:
        _REMEMBERED.clear()
    _REMEMBERED[key] = result
