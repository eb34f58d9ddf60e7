#!/bin/sh
# Installs PostgreSQL's server binaries (initdb, postgres) from Debian's packages,
# only when missing: the store tests start a throwaway server from them
# (store/pgtest) on 127.0.0.1 and a free port, and remove it afterwards.
# Idempotent: with initdb on PATH or under /usr/lib/postgresql/*/bin it does nothing.
# Needs root (or passwordless sudo) and apt-get; the package's own cluster and
# service are not started (policy-rc.d, and no cluster is created).
set -eu

for d in $(command -v initdb 2>/dev/null) /usr/lib/postgresql/*/bin/initdb; do
	if [ -x "$d" ]; then
		echo "install-postgres: initdb is already installed ($d)"
		exit 0
	fi
done

# shellcheck source=apt-install.sh
. "$(dirname "$0")/apt-install.sh"
apt_root install-postgres "install PostgreSQL's server binaries (initdb, postgres) by hand and put initdb on PATH, or point the tests at a server: AFFINITY_TEST_PG_DSN=postgres://user:pass@host:5432/postgres"
# create_main_cluster=false: the tests make their own cluster in a temp dir.
$SUDO mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.d/affinityd-tests.conf >/dev/null
apt_install install-postgres postgresql
