"""Why each session-changing statement is refused, and what to write instead (see :mod:`.session_state`)."""

#: Why each kind of statement is refused (completing "statement N ..."); ``{subject}`` is what it names.
REASONS = {
    "pg_set": (
        "sets the session-level parameter {subject}, which outlives the migration's transaction: later "
        "migrations, the runner (search_path decides where it looks for its history) and the caller's "
        "connection afterwards would all run with it"
    ),
    "pg_role": (
        "changes the session's role or authorization ({subject}), which outlives the migration's transaction: "
        "later migrations, the runner and the caller's connection afterwards would run with its privileges"
    ),
    "pg_reset": "resets session parameters to their defaults, discarding the caller's settings for the rest of the run and afterwards",
    "pg_discard": "discards session state of the caller's connection (its temporary tables, prepared statements, plans or sequence state)",
    "pg_listen": "registers (or unregisters) the caller's connection for notifications, which outlives the migration",
    "pg_prepare": (
        "creates or deallocates a session-level prepared statement, which outlives the migration and can "
        "clash with the caller's or its driver's own"
    ),
    "pg_set_config": (
        "calls set_config() without is_local = true, which sets a session-level parameter that outlives the "
        "migration's transaction (later migrations, the runner and the caller's connection would run with it)"
    ),
    "mysql_use": (
        "makes another database current: the runner's history and journal, later migrations' unqualified "
        "names and the caller's connection would all point at it"
    ),
    "mysql_role": "changes the session's active roles, and so the privileges of later migrations, the runner and the caller's connection",
    "mysql_session_transaction": (
        "changes the characteristics (isolation level, read only) of every later transaction of the "
        "session, the runner's and the caller's"
    ),
    "mysql_unrestorable": (
        "sets the session value {subject}, which the runner cannot put back as it was (restoring a saved value "
        "would pin it)"
    ),
    "sqlite_pragma": (
        "sets PRAGMA {subject}: a migration may set only user_version, application_id and defer_foreign_keys "
        "(other pragmas change the connection, and the change outlives the migration: later migrations, the "
        "runner and the caller's connection afterwards would run with it)"
    ),
    "sqlite_foreign_keys_outside": (
        "sets PRAGMA foreign_keys in a migration declared `transactional = False`, where it takes effect and "
        "outlives the migration (later migrations would run with enforcement switched, and a table rebuild "
        "with enforcement on cascades its DROP to every child row)"
    ),
    "sqlite_attach": (
        "attaches or detaches a database on the caller's connection: later migrations, the runner and the "
        "caller's connection afterwards would see it"
    ),
    "temp_object": (
        "creates the temporary object {subject} and does not drop it: it outlives the migration on the "
        "connection, and unqualified names in later migrations and in the caller's queries would resolve "
        "to it first"
    ),
}

#: What to write instead, per kind.
ADVICE = {
    "pg_set": (
        "Use SET LOCAL (it ends with the migration's transaction), or schema-qualified names instead of "
        "search_path. SET LOCAL has no effect in a `transactional = False` migration: there, qualify names, "
        "or set the parameter for the role or database (ALTER ROLE/DATABASE ... SET) outside the migrations"
    ),
    "pg_role": (
        "Use SET LOCAL ROLE (it ends with the migration's transaction), or grant the privileges to the user "
        "that runs the migrations"
    ),
    "pg_reset": "Use SET LOCAL with the value the migration needs (it ends with the migration's transaction)",
    "pg_discard": "Remove the statement: a migration has no session state of its own to discard",
    "pg_listen": "Remove the statement: listen for notifications from the application, on a connection of its own",
    "pg_prepare": "Write the statement out instead of preparing it",
    "pg_set_config": "Pass true as set_config()'s third argument (is_local), or use SET LOCAL",
    "mysql_use": (
        "Qualify names with the database (other_db.t) instead; work on another database belongs on a "
        "connection of its own, outside the migrations"
    ),
    "mysql_role": "Grant the privileges to the user that runs the migrations",
    "mysql_session_transaction": "Remove the statement: the runner chooses how its transactions run",
    "mysql_unrestorable": "Remove the statement (or set the value in the statement that needs it, e.g. an explicit column value)",
    "sqlite_pragma": (
        "Remove the statement: set connection pragmas where the application opens the database, and do other "
        "work on a connection of its own. The runner itself runs migrations with foreign_keys, "
        "legacy_alter_table and recursive_triggers off, and restores the caller's settings afterwards"
    ),
    "sqlite_foreign_keys_outside": (
        "Remove the statement: the runner runs every migration with foreign-key enforcement off, restores the "
        "caller's setting afterwards, and checks foreign_key_check after each migration"
    ),
    "sqlite_attach": "Use a connection of its own for another database file, outside the migrations",
    "temp_object": (
        "Drop it at the end of the same migration (on PostgreSQL, CREATE TEMP TABLE ... ON COMMIT DROP does "
        "that), or make it a regular table"
    ),
}
