"""The engine: one run (:mod:`.run`) and the operations on it, each in its own module.

``run`` (:func:`~.run.open_run`: arguments, agents, session, history read
once), ``migrate`` (``run_agent_migrations``: no-op path, dry run),
``apply`` (the apply loop and its concurrency guard), ``non_transactional``
(``transactional = False`` migrations), ``rollback``, ``verify``,
``history_ops`` (record, baseline, repair, resolve), ``status``, and
``reports`` (what each returns). The public names stay importable from
:mod:`nocodo_agents.runner`, :mod:`nocodo_agents.lifecycle` and
:mod:`nocodo_agents.status`.
"""
