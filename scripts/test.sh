#!/usr/bin/env bash
# The test command (README): install srdi with its test extras into .venv, run the suite and
# the shared worked cases through the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e '.[test]'
for f in scripts/ci-setup.d/*.sh; do [ -e "$f" ] && source "$f"; done
.venv/bin/python -m pytest -n 2 -p no:cacheprovider --ignore=tests/test_workflow_pg.py "$@"
# the PostgreSQL tests share one database: serially, in a run of their own
.venv/bin/python -m pytest -p no:cacheprovider tests/test_workflow_pg.py
if [ -d ../shared/cases ]; then
  .venv/bin/python ../shared/tools/check_cases.py ../shared/cases
fi
