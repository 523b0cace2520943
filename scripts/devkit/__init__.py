"""The development kit: what the local stack (scripts/run_local.py), the benchmark
(scripts/bench) and the tests (tests/fixtures) all need to run the system on one machine.

- `ports`: `free_port`, `port_in_use`;
- `processes`: `Proc` (a child in its own session, its output to a log file or a line
  callback, SIGTERM then SIGKILL to its group) and `ProcessGroup` (stops newest first);
- `readiness`: `http_ok`, `accepts_connections`, `wait_until`, `wait_http`, `wait_port`;
- `tansu`: the Tansu binary lookup, its argv, topic creation, the Kafka metadata probe;
- `tokens`: `mint_token`, the HS256 JWT the BFFs accept;
- `CUSTOMER_TOPIC`: the customer events' default topic (libcommon.events defines it).

Import it as `devkit` with `scripts/` on the path: run_local.py is next to it, the bench
adds it (scripts/bench.py), pytest has it in `pythonpath` (pyproject).
"""

from libcommon.events import DEFAULT_CUSTOMER_TOPIC as CUSTOMER_TOPIC

__all__ = ["CUSTOMER_TOPIC"]
