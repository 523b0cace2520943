#!/usr/bin/env bash
# Runs the whole test suite: lint, type check, then pytest against real MariaDB, Kafka (Tansu),
# SES (moto) and SMTP (aiosmtpd). Starts MariaDB when it is not running.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

mariadb_up() { mariadb-admin --socket=/run/mysqld/mysqld.sock -uroot ping >/dev/null 2>&1; }
if ! mariadb_up; then
  echo "MariaDB is not running: starting it"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for _ in $(seq 1 60); do mariadb_up && break; sleep 0.5; done
  mariadb_up || { echo "MariaDB did not start"; exit 1; }
fi

echo "== tools"; bash scripts/install-test-tools.sh
echo "== ruff"; "$VENV/bin/ruff" check .
echo "== mypy"; "$VENV/bin/mypy"
echo "== pytest"
# Two workers: the suite is mostly waiting on sockets and processes.
# loadgroup: tests marked xdist_group("replication") share one worker, so one MariaDB
# primary+replica pair serves them all (tests/replication).
# The 15 slowest tests are listed at the end: where the suite's time goes.
exec "$VENV/bin/pytest" -p no:cacheprovider -n 2 --dist loadgroup --durations=15 "$@"
