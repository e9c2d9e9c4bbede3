#!/usr/bin/env bash
# Install (Debian packages), start and provision a PostgreSQL server for the test suite.
# Prints the server URL for STRATA_TEST_POSTGRES_URL on stdout; everything else goes to stderr.
set -euo pipefail

if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | grep -q "^${version} main"; then
  pg_createcluster "$version" main >&2
fi
if ! pg_lsclusters -h | grep -q "^${version} main .* online"; then
  pg_ctlcluster "$version" main start >&2
fi
port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')

password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
su postgres -c "psql -q -p $port -v ON_ERROR_STOP=1" >&2 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'strata_test') THEN
    CREATE ROLE strata_test LOGIN CREATEDB;
  END IF;
END \$\$;
ALTER ROLE strata_test PASSWORD '$password';
SQL
echo "postgresql://strata_test:${password}@127.0.0.1:${port}/postgres"
