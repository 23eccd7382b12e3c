# PostgreSQL for the workflow tests (tests/test_workflow_pg.py). Sourced by scripts/test.sh.
# Installs PostgreSQL (Debian), starts the cluster, creates role srdi / database srdi_test and
# exports SRDI_TEST_PG_URL. Idempotent and quiet; fast when already done.
_srdi_pg_setup() {
  local url="postgresql+psycopg://srdi:srdi@127.0.0.1:5432/srdi_test"
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
        || { echo "40-postgres: apt-get install postgresql failed" >&2; return 1; }
    else
      echo "40-postgres: PostgreSQL not installed and not root" >&2; return 1
    fi
  fi
  local ver cluster
  ver=$(ls /usr/lib/postgresql | sort -V | tail -1)
  cluster=$(pg_lsclusters -h 2>/dev/null | awk -v v="$ver" '$1==v {print $2; exit}')
  if [ -z "$cluster" ]; then
    pg_createcluster "$ver" main >/dev/null 2>&1 || { echo "40-postgres: cannot create cluster" >&2; return 1; }
    cluster=main
  fi
  if ! pg_lsclusters -h | awk -v v="$ver" -v c="$cluster" '$1==v && $2==c {print $4}' | grep -q online; then
    pg_ctlcluster "$ver" "$cluster" start >/dev/null 2>&1 || { echo "40-postgres: cannot start cluster" >&2; return 1; }
  fi
  local i
  for i in $(seq 1 30); do
    su postgres -c "psql -qtAc 'select 1'" >/dev/null 2>&1 && break
    sleep 0.5
  done
  su postgres -c "psql -qtAc \"select 1 from pg_roles where rolname='srdi'\"" | grep -q 1 \
    || su postgres -c "psql -qc \"create role srdi login password 'srdi' createdb\"" >/dev/null
  su postgres -c "psql -qtAc \"select 1 from pg_database where datname='srdi_test'\"" | grep -q 1 \
    || su postgres -c "createdb -O srdi srdi_test" >/dev/null
  export SRDI_TEST_PG_URL="$url"
}
_srdi_pg_setup || echo "40-postgres: PostgreSQL unavailable; SRDI_TEST_PG_URL not set" >&2
unset -f _srdi_pg_setup
