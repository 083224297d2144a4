"""The schema layer: reading SQL text and the schema it produces, per dialect.

Lexer and splitter (:mod:`.lexer`, :mod:`.split`, :mod:`.routine`, :mod:`.compound_statement`,
:mod:`.sqlite_split`), the checks on a migration's statements
(:mod:`.code_words`, :mod:`.transaction_control`, :mod:`.session_state`, :mod:`.mysql_session`),
the description of a live schema (one ``describe_*`` module per dialect, keys
in :mod:`.keys`; SQLite's CREATE text read by :mod:`.sqlite_tokens` and :mod:`.sqlite_text`), and the replay of applied migrations on a scratch copy,
written once (:mod:`.replay`) for drift and adoption.

Nothing here imports :mod:`nocodo_agents.dialects`, the engine or the CLI;
this ``__init__`` imports nothing, so ``import nocodo_agents`` stays lazy.
"""
