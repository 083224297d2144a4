"""Migrations of the example notes agent: one ``V{UTC YYYYMMDDHHMMSS}__{name}.py`` module each.

Write the next one with ``nocodo-agents new example_notes NAME --timestamp``; never edit one that
was released.
"""
