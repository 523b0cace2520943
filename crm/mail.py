"""The welcome e-mail and the transports that deliver it (SES, SMTP, file sink).

Every transport implements `Mailer.send(msg)`: it returns once the transport accepted the
message, raises `TransientMailError` when trying again later may work (server down,
throttling, misconfiguration being fixed) and `PermanentMailError` when this message can
never be delivered (recipient refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import logging
import os
import re
import tempfile
import uuid
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Any, Protocol

from crm.settings import Settings
from libcommon.events import CustomerRegistered

log = logging.getLogger("crm.mail")

SUBJECT = "Activate your book store account"
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x85\x0b\x0c]+")


class MailError(Exception):
    pass


class TransientMailError(MailError):
    """Retry later: the partition waits and the offset stays uncommitted."""


class PermanentMailError(MailError):
    """This message cannot be delivered: it is dead-lettered."""


class Mailer(Protocol):
    name: str

    async def send(self, msg: EmailMessage) -> None: ...

    async def close(self) -> None: ...


def welcome_body(name: str, store_owner: str) -> str:
    # A line break inside the name must not change the three-line body.
    safe_name = _LINE_BREAKS.sub(" ", name).strip()
    return (
        f"Dear {safe_name},\n"
        f"Welcome to the Book store created by {store_owner}.\n"
        "Exceptionally this time we won\u2019t ask you to click a link to activate your account.\n"
    )


def _domain(address: str) -> str:
    _name, addr = parseaddr(address)
    return addr.rpartition("@")[2] or "bookstore.local"


def build_welcome_email(
    customer: CustomerRegistered, *, event_id: str, sender: str, store_owner: str
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = customer.userId
    msg["Subject"] = SUBJECT
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    # Derived from the event id: a re-sent event carries the same Message-ID, so receivers
    # (and the file sink) can recognise it.
    msg["Message-ID"] = f"<{event_id}@{_domain(sender)}>"
    msg["X-Bookstore-Event-Id"] = event_id
    msg.set_content(welcome_body(customer.name, store_owner), charset="utf-8")
    return msg


def to_bytes(msg: EmailMessage) -> bytes:
    """RFC 5322 wire form (CRLF line endings)."""
    return msg.as_bytes(policy=email.policy.SMTP)


class FileMailer:
    """Writes one `.eml` file per message directly under `directory` (atomic rename)."""

    name = "file"

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _file_name(self, msg: EmailMessage) -> str:
        message_id = str(msg.get("Message-ID", "")).strip("<> ")
        stem = re.sub(r"[^A-Za-z0-9._@-]", "_", message_id.partition("@")[0])
        if not stem:
            stem = uuid.uuid4().hex
        return f"{stem}.eml"

    def _write(self, msg: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        data = to_bytes(msg)
        # Dot-prefixed temporary name in the same directory: readers globbing *.eml never
        # see a partial file, and the rename is atomic on one file system.
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.directory / self._file_name(msg))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    async def send(self, msg: EmailMessage) -> None:
        try:
            await asyncio.to_thread(self._write, msg)
        except OSError as exc:
            raise TransientMailError(f"cannot write to {self.directory}: {exc}") from exc

    async def close(self) -> None:
        return None


class SmtpMailer:
    """aiosmtplib, one connection per message (welcome mails are rare)."""

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.timeout_s = timeout_s

    async def send(self, msg: EmailMessage) -> None:
        import aiosmtplib

        try:
            await aiosmtplib.send(
                msg,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.security == "tls",
                start_tls=self.security == "starttls",
                timeout=self.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            if codes and all(500 <= code < 600 for code in codes):
                raise PermanentMailError(f"recipient refused: {detail}") from exc
            raise TransientMailError(f"recipient deferred: {detail}") from exc
        except aiosmtplib.SMTPDataError as exc:
            if 500 <= exc.code < 600:
                raise PermanentMailError(f"message refused: {exc.code} {exc.message}") from exc
            raise TransientMailError(f"message deferred: {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # Connection, TLS, authentication and sender errors: the server or our
            # configuration, not this message.
            raise TransientMailError(f"SMTP {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        return None


# SES error codes that concern this message rather than the service or our account.
_SES_PERMANENT = {"BadRequestException", "InvalidParameterValue"}


class SesMailer:
    """Amazon SES v2 `SendEmail` with the raw MIME message (aiobotocore)."""

    name = "ses"

    def __init__(
        self,
        region: str,
        *,
        sender: str,
        endpoint_url: str | None = None,
        configuration_set: str | None = None,
    ) -> None:
        self.region = region
        self.sender = sender
        self.sender_address = parseaddr(sender)[1].lower()
        self.endpoint_url = endpoint_url
        self.configuration_set = configuration_set
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None

    async def _get_client(self) -> Any:
        if self._client is None:
            from aiobotocore.config import AioConfig
            from aiobotocore.session import get_session

            config = AioConfig(
                connect_timeout=5, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"}
            )
            self._client = await self._stack.enter_async_context(
                get_session().create_client(
                    "sesv2", region_name=self.region, endpoint_url=self.endpoint_url, config=config
                )
            )
        return self._client

    async def send(self, msg: EmailMessage) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        # Raw content: SES takes the recipients from the To header.
        request: dict[str, Any] = {
            "FromEmailAddress": self.sender,
            "Content": {"Raw": {"Data": to_bytes(msg)}},
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        try:
            client = await self._get_client()
            await client.send_email(**request)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            text = str(error.get("Message", ""))
            if code in _SES_PERMANENT or (
                # "Email address is not verified": permanent when it is the recipient (SES
                # sandbox), transient when it is our sender (fix the configuration).
                code == "MessageRejected" and self.sender_address not in text.lower()
            ):
                raise PermanentMailError(f"SES {code}: {text}") from exc
            raise TransientMailError(f"SES {code}: {text}") from exc
        except (BotoCoreError, OSError, TimeoutError) as exc:
            raise TransientMailError(f"SES {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        self._client = None
        await self._stack.aclose()


def create_mailer(settings: Settings) -> Mailer:
    if settings.mail_backend == "ses":
        return SesMailer(
            settings.aws_region,
            sender=settings.mail_from,
            endpoint_url=settings.ses_endpoint_url,
            configuration_set=settings.ses_configuration_set,
        )
    if settings.mail_backend == "smtp":
        return SmtpMailer(
            settings.smtp_host,
            settings.smtp_port_or_default(),
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            timeout_s=settings.smtp_timeout_s,
        )
    return FileMailer(settings.mail_dir)
