"""The harness's MariaDB setup, the processes it starts (built on devkit) and their memory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pymysql
from devkit.ports import port_in_use
from devkit.processes import Proc, tail
from devkit.tansu import broker_argv

ROOT = Path(__file__).resolve().parents[3]
BENCH_DIR = Path(__file__).resolve().parents[1]

MYSQL_SOCKET = os.environ.get("BENCH_MYSQL_SOCKET", "/run/mysqld/mysqld.sock")
MYSQL_HOST = os.environ.get("BENCH_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("BENCH_MYSQL_PORT", "3306"))
APP_USER = "bench_app"
APP_PASSWORD = "bench-app-pw"
DATABASES = {
    "svc_book": "bench_books",
    "svc_customer": "bench_customers",
    "crm": "bench_crm",
    "ceiling": "bench_ceiling",
}


class StackError(RuntimeError):
    """Something the harness needs could not be set up."""


# ---------------------------------------------------------------- MariaDB


def admin_connection() -> pymysql.connections.Connection:
    """Root through the Unix socket (root is often refused over TCP), else TCP."""
    try:
        return pymysql.connect(unix_socket=MYSQL_SOCKET, user="root", autocommit=True)
    except pymysql.err.MySQLError:
        try:
            return pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", autocommit=True)
        except pymysql.err.MySQLError as exc:
            raise StackError(
                f"MariaDB is not reachable as root through {MYSQL_SOCKET} or "
                f"{MYSQL_HOST}:{MYSQL_PORT} ({exc}); start it (see .ci/run) or set "
                "BENCH_MYSQL_SOCKET / BENCH_MYSQL_HOST / BENCH_MYSQL_PORT"
            ) from exc


def database_url(name: str) -> str:
    return f"mysql+aiomysql://{APP_USER}:{APP_PASSWORD}@{MYSQL_HOST}:{MYSQL_PORT}/{name}"


def create_databases(names: list[str]) -> None:
    """Fresh, empty databases and an app user allowed on `bench_*` only."""
    conn = admin_connection()
    try:
        with conn.cursor() as cur:
            for host in ("localhost", "127.0.0.1", "::1"):
                cur.execute(f"CREATE USER IF NOT EXISTS '{APP_USER}'@'{host}' IDENTIFIED BY %s",
                            (APP_PASSWORD,))
                cur.execute(f"GRANT ALL PRIVILEGES ON `bench\\_%`.* TO '{APP_USER}'@'{host}'")
            for name in names:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
                cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 "
                            "COLLATE utf8mb4_unicode_ci")
    finally:
        conn.close()


def drop_databases(names: list[str]) -> None:
    conn = admin_connection()
    try:
        with conn.cursor() as cur:
            for name in names:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


def count_rows(database: str, table: str) -> int:
    conn = admin_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM `{database}`.`{table}`")
            row = cur.fetchone()
            return int(row[0]) if row else 0
    finally:
        conn.close()


def server_version() -> str:
    conn = admin_connection()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            row = cur.fetchone()
            return str(row[0]) if row else "?"
    finally:
        conn.close()


def migrate(package: str, url: str, log_path: Path, root: Path = ROOT) -> None:
    env = {**os.environ, "PYTHONPATH": str(root), "DATABASE_URL": url}
    with log_path.open("ab") as log:
        proc = subprocess.run(
            [sys.executable, "-m", "libcommon.migrate", package], cwd=root, env=env,
            stdout=log, stderr=subprocess.STDOUT, timeout=120, check=False)
    if proc.returncode != 0:
        raise StackError(f"migrations of {package} failed (exit {proc.returncode}); "
                         f"see {log_path}:\n{tail(log_path)}")


# ---------------------------------------------------------------- processes


def python_env(extra: Mapping[str, str], pythonpath: str = str(ROOT)) -> dict[str, str]:
    env = dict(os.environ)
    # Per-service values are set explicitly; stray global ones must not leak in.
    # OTEL_* too: only the traced twins trace (their env sets the endpoint).
    for name in ("DATABASE_URL", "PORT", "WORKERS", "HOST", "OTEL_EXPORTER_OTLP_ENDPOINT",
                 "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        env.pop(name, None)
    env["PYTHONPATH"] = pythonpath
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def floor_proc(port: int, log_dir: Path, *, logged: bool = False) -> Proc:
    name = "floor_logged" if logged else "floor"
    argv = [sys.executable, "-m", "benchkit.floor", "--port", str(port)]
    if logged:
        argv.append("--access-log")
    return Proc(name, argv, python_env({}, str(BENCH_DIR)), log_dir / f"{name}.log", port)


def service_proc(package: str, port: int, env: Mapping[str, str], log_path: Path,
                 root: Path = ROOT, module: str | None = None) -> Proc:
    """`python -m <module>` (default: the package) named `package` in the process group."""
    full_env = python_env({"PORT": str(port), "HOST": "127.0.0.1", **env}, str(root))
    return Proc(package, [sys.executable, "-m", module or package], full_env, log_path, port,
                cwd=root)


def otlp_sink_proc(port: int, log_dir: Path) -> Proc:
    argv = [sys.executable, "-m", "benchkit.otlp_sink", "--port", str(port)]
    return Proc("otlp_sink", argv, python_env({}, str(BENCH_DIR)), log_dir / "otlp_sink.log",
                port)


def tansu_proc(binary: str, port: int, log_dir: Path) -> Proc:
    return Proc("tansu", broker_argv(binary, port), dict(os.environ), log_dir / "tansu.log", port)


# ---------------------------------------------------------------- memory


def _parent_pids() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields follow the last ')'.
        fields = stat[stat.rfind(")") + 2:].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants, parents first."""
    parents = _parent_pids()
    children: dict[int, list[int]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    order, stack = [], [pid]
    while stack:
        current = stack.pop(0)
        order.append(current)
        stack.extend(sorted(children.get(current, [])))
    return order


def rss_kib(pid: int) -> int | None:
    """VmRSS of one process, or None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _child_role(command: str) -> str:
    if "resource_tracker" in command:
        return "resource_tracker"  # multiprocessing's helper, not a worker
    if "spawn_main" in command:
        return "worker"
    return "child"


def memory_report(proc: Proc) -> list[dict[str, Any]]:
    """RSS of a service process and of each of its worker children."""
    if proc.pid is None or not proc.running():
        return []
    rows: list[dict[str, Any]] = []
    for pid in process_tree(proc.pid):
        rss = rss_kib(pid)
        if rss is None:
            continue
        command = cmdline(pid)
        role = "main" if pid == proc.pid else _child_role(command)
        rows.append({"pid": pid, "role": role, "rss_mb": round(rss / 1024, 1),
                     "cmd": command[:120]})
    return rows


def busy_ports(ports: Mapping[str, int]) -> Iterator[str]:
    """Names whose port is already taken."""
    for name, port in ports.items():
        if port_in_use(port):
            yield f"{name} ({port})"
