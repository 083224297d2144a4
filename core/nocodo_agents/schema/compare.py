"""Comparing two schema descriptions: pure, the same for every dialect.

Both schemas are flat ``{key: description}`` mappings (the grammar is in
:mod:`.keys`), compared key by key:

* an expected key the live database lacks is ``missing``;
* a key present in both with different descriptions ``differs``;
* a live key the migrations do not produce is ``unexpected`` when it belongs
  to a table or view the migrations create (an extra column, index, trigger
  or constraint on a managed table is drift), and otherwise its table or view
  is listed as ``unmanaged``: an application's own tables are not drift.

:func:`compare_schemas` knows nothing of any dialect but through ``owner``,
which tells the table or view a key belongs to (SQLite's by default).
"""

from __future__ import annotations

from dataclasses import dataclass

from .describe_sqlite import owning_object
from .keys import Owner

__all__ = ["DriftReport", "SchemaDifference", "compare_schemas"]


@dataclass(frozen=True)
class SchemaDifference:
    """One difference between the expected and the live schema.

    ``kind`` is ``"missing"`` (``live`` is ``None``), ``"unexpected"``
    (``expected`` is ``None``) or ``"differs"``; ``key`` names the schema
    element, as in ``"column agent_sessions.status"``.
    """

    kind: str
    key: str
    expected: str | None
    live: str | None

    def __str__(self) -> str:
        """One line: ``missing   column agent_sessions.error (expected TEXT)``."""
        head = f"{self.kind:9} {self.key}"
        if self.kind == "differs":
            return f"{head}: live {self.live}, expected {self.expected}"
        if self.kind == "missing":
            detail = _detail(self.key, self.expected)
            return f"{head} (expected {detail})" if detail else head
        detail = _detail(self.key, self.live)
        return f"{head} {detail}" if detail else head


def _detail(key: str, description: str | None) -> str:
    """``description`` unless it only repeats the key's kind (``"table"`` for ``"table t"``)."""
    if description is None or key.startswith(description + " "):
        return ""
    return description


@dataclass(frozen=True)
class DriftReport:
    """The differences between the expected and the live schema.

    ``unmanaged`` names the tables and views of the live database that no
    applied migration creates (``"table app_notes"``), with everything
    attached to them: listed for information, they are not drift.
    """

    differences: tuple[SchemaDifference, ...]
    unmanaged: tuple[str, ...]

    @property
    def has_drift(self) -> bool:
        """Whether the live schema differs from the expected one."""
        return bool(self.differences)

    def __bool__(self) -> bool:
        """Truthy when there is drift (as :attr:`has_drift`), so ``not report.drift`` means "no drift"."""
        return self.has_drift

    def __str__(self) -> str:
        """The differences, one a line, then the unmanaged objects; or ``no schema drift``."""
        lines = [str(difference) for difference in self.differences] or ["no schema drift"]
        if self.unmanaged:
            lines.append(f"not managed by migrations (not drift): {', '.join(self.unmanaged)}")
        return "\n".join(lines)


def compare_schemas(
    expected: dict[str, str], live: dict[str, str], owner: Owner = owning_object
) -> DriftReport:
    """Compare two schema descriptions; pure.

    ``owner(key, description)`` gives the key of the table or view an entry
    belongs to (the entry itself for a table or view), or ``None`` when it
    cannot tell; such live entries count as unexpected. An element missing
    only because its whole table or view is missing is not listed again.
    """
    managed = {owner(key, description) for key, description in expected.items()}
    differences: list[SchemaDifference] = []
    unmanaged: set[str] = set()
    for key, description in expected.items():
        if key not in live:
            parent = owner(key, description)
            if parent is None or parent == key or parent in live or parent not in expected:
                differences.append(SchemaDifference("missing", key, description, None))
        elif live[key] != description:
            differences.append(SchemaDifference("differs", key, description, live[key]))
    for key, description in live.items():
        if key in expected:
            continue
        parent = owner(key, description)
        if parent is None or parent in managed:
            differences.append(SchemaDifference("unexpected", key, None, description))
        else:
            unmanaged.add(parent)

    def order(difference: SchemaDifference) -> tuple[str, str]:
        description = difference.expected if difference.expected is not None else difference.live
        return owner(difference.key, description or "") or difference.key, difference.key

    return DriftReport(tuple(sorted(differences, key=order)), tuple(sorted(unmanaged)))
