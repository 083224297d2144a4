"""What an entry of a migrations package named like a migration must be called, and what to say when it is not.

Every entry whose name starts like a migration must be a valid one
(:func:`_misnamed` says why it is not, with the name it should have), so a
typo never silently drops a migration.
"""

from __future__ import annotations

import re

from .migration import parse_module_name

#: What an entry named like a migration starts with: ``V`` (either case) and a digit, ``_`` or
#: ``-``, or refinery's unversioned ``U`` and a digit. Such an entry must be a valid migration.
#: ``\d`` on purpose: any Unicode digit here, so that ``V١__x.py`` is caught, not skipped.
_LOOKS_LIKE_MIGRATION = re.compile(r"[Vv][\d_-]|[Uu]\d")
#: The extensions of the two kinds of migration file.
_KINDS = ("py", "sql")
#: A misspelt name that can be corrected: prefix, version, separator and name, loosely.
_FIXABLE = re.compile(r"[VvUu][-_]*([0-9]+)[-_]+([A-Za-z0-9_]+)")
#: A name that lacks only its version.
_VERSIONLESS = re.compile(r"[Vv][-_]+([A-Za-z0-9_]+)")
_RULE = (
    "migrations are named V{version}__{name}.py or V{version}__{name}.sql (a capital V, the version in "
    "ASCII digits 0-9, two underscores, a name of ASCII letters, digits and underscores)"
)
_NOT_A_MIGRATION = (
    "; if it is not a migration, give it a name that does not start with V or v followed by a digit, "
    "_ or -"
)


def _misnamed(file_name: str, is_dir: bool) -> str | None:
    """Why an entry named like a migration is not a valid one (``None`` if it is one)."""
    stem, _, suffix = file_name.partition(".")
    parsed = parse_module_name(stem)
    kind = suffix.lower() if suffix.lower() in _KINDS else "py"
    fixable = _FIXABLE.fullmatch(stem)
    fixed = f"V{int(fixable.group(1))}__{fixable.group(2).strip('_')}" if fixable else None
    if fixed is not None and parse_module_name(fixed) is None:
        fixed = None
    if is_dir:
        return (
            f"a directory named like a migration, but a migration is one V{{version}}__{{name}}.py module "
            f"or .sql file, not a package; move its code into {stem if parsed else fixed or 'V{version}__{name}'}.py"
        )
    if stem[:1] in "Uu" and fixed is not None:
        return (
            f"refinery's unversioned (U) migrations are not supported; rename it to {fixed}.{kind} "
            f"(it is then applied once, in version order)"
        )
    if parsed is None:
        versionless = _VERSIONLESS.fullmatch(stem)
        if fixed is not None:
            hint = f"rename it to {fixed}.{kind}"
        elif versionless is not None and parse_module_name(f"V1__{versionless.group(1)}") is not None:
            hint = f"give it its version: V{{version}}__{versionless.group(1)}.{kind}"
        else:
            hint = "rename it"
        return f"not a valid migration name: {_RULE}; {hint}{_NOT_A_MIGRATION}"
    if suffix == "rs":
        return f"a refinery Rust migration module cannot run here; port its SQL to {stem}.py or {stem}.sql"
    if suffix not in _KINDS:
        target = f"rename it to {stem}.{suffix.lower()}" if suffix.lower() in _KINDS else "rename it"
        return (
            f"named like a migration, but neither a .py module nor a .sql file; {target}, or delete it "
            f"if it is a backup or a compiled file"
        )
    return None
