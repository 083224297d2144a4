#!/usr/bin/env bash
# Install the database servers the tests start privately (Debian packages):
# PostgreSQL, MariaDB and PgBouncer. Their system services are not started,
# and the machine is left as it was found: the policy-rc.d that keeps the
# packages' services from starting during the install is removed afterwards,
# and an existing one is put back.
#
# Overrides (for tests of this script): POLICY_RC_D (default /usr/sbin/policy-rc.d),
# APT_GET (default apt-get), NOCODO_SERVERS_NEED (space-separated packages to
# install instead of those found missing).
set -euo pipefail
need=()
if [ -n "${NOCODO_SERVERS_NEED+x}" ]; then
    read -r -a need <<< "$NOCODO_SERVERS_NEED"
else
    command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
    ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
    command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || need+=(pgbouncer)
fi
if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "tests/servers.sh: the tests need ${need[*]}; install them with: sudo bash tests/servers.sh" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
POLICY_RC_D="${POLICY_RC_D:-/usr/sbin/policy-rc.d}"
APT_GET="${APT_GET:-apt-get}"
# Keep the packages' own services from starting (the tests run private
# instances), for the length of the install only.
saved=""
if [ -e "$POLICY_RC_D" ] || [ -L "$POLICY_RC_D" ]; then
    saved="$(mktemp "${POLICY_RC_D}.nocodo-saved.XXXXXX")"
    mv -f "$POLICY_RC_D" "$saved"
fi
restore_policy() {
    rm -f "$POLICY_RC_D"
    if [ -n "$saved" ]; then
        mv -f "$saved" "$POLICY_RC_D"
    fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# written by nocodo-agents tests/servers.sh for the length of its install\nexit 101\n' > "$POLICY_RC_D"
chmod +x "$POLICY_RC_D"
"$APT_GET" update -qq
"$APT_GET" install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "installed: ${need[*]}"
