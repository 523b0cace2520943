"""The welcome e-mail and its transports against real endpoints (file, aiosmtpd, moto SES)."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from crm.mail import (
    FileMailer,
    PermanentMailError,
    SesMailer,
    SmtpMailer,
    TransientMailError,
    build_welcome_email,
    create_mailer,
    welcome_body,
)
from crm.settings import DEFAULT_STORE_OWNER, Settings
from libcommon.events import CustomerRegistered
from tests.crm.helpers import assert_welcome
from tests.fixtures.mail import DEFAULT_SENDER, MotoSes, SmtpServer
from tests.outbox.helpers import customer

SENDER = f"Book Store <{DEFAULT_SENDER}>"


def welcome(n: int = 1, **overrides: str) -> tuple[CustomerRegistered, email.message.EmailMessage]:
    model = CustomerRegistered.model_validate(customer(n, **overrides))
    msg = build_welcome_email(model, event_id=f"evt-{n}", sender=SENDER, store_owner="Ada")
    return model, msg


def test_body_is_exactly_three_lines_with_the_typographic_apostrophe() -> None:
    body = welcome_body("Zoë", "Ada")
    assert body.splitlines() == [
        "Dear Zoë,",
        "Welcome to the Book store created by Ada.",
        "Exceptionally this time we won\u2019t ask you to click a link to activate your account.",
    ]
    assert welcome_body("Evil\r\nBcc: x@y.z", "Ada").count("\n") == 3


def test_default_settings_choose_the_file_sink() -> None:
    settings = Settings()
    assert settings.store_owner == DEFAULT_STORE_OWNER
    assert isinstance(create_mailer(settings), FileMailer)
    assert settings.dead_letter_topic() == "bookstore.customer.evt.dlt"
    assert Settings(smtp_security="tls").smtp_port_or_default() == 465


async def test_file_sink_writes_one_rfc5322_file_per_message(tmp_path: Path) -> None:
    mailer = FileMailer(tmp_path / "mail")
    model, msg = welcome(1, name="Zoë")
    await mailer.send(msg)
    await mailer.send(msg)  # the same event again replaces, never duplicates
    _, other = welcome(2)
    await mailer.send(other)
    files = sorted((tmp_path / "mail").iterdir())
    assert [f.name for f in files] == ["evt-1.eml", "evt-2.eml"]
    raw = files[0].read_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    assert_welcome(parsed, to=model.userId, name="Zoë", owner="Ada", sender=SENDER)


async def test_file_sink_failure_is_transient(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(TransientMailError):
        await FileMailer(blocker).send(welcome()[1])


async def test_smtp_delivers_refuses_and_reports_outages(smtp_server: SmtpServer) -> None:
    mailer = SmtpMailer(smtp_server.host, smtp_server.port, security="none", timeout_s=2)
    model, msg = welcome(1)
    await mailer.send(msg)
    [received] = await smtp_server.wait_for_async(1)
    assert received.rcpt_tos == [model.userId]
    assert received.mail_from == DEFAULT_SENDER
    assert_welcome(received.message, to=model.userId, name=model.name, owner="Ada",
                   sender=SENDER)

    smtp_server.reject.add("user2@example.com")
    with pytest.raises(PermanentMailError):
        await mailer.send(welcome(2)[1])

    smtp_server.stop()
    with pytest.raises(TransientMailError):
        await mailer.send(welcome(3)[1])


async def test_smtp_starttls_against_a_server_without_tls_is_transient(
    smtp_server: SmtpServer,
) -> None:
    mailer = SmtpMailer(smtp_server.host, smtp_server.port, security="starttls", timeout_s=2)
    with pytest.raises(TransientMailError):
        await mailer.send(welcome()[1])
    assert smtp_server.received() == []


async def test_ses_sends_the_raw_message(moto_ses: MotoSes) -> None:
    mailer = SesMailer(moto_ses.region, sender=SENDER, endpoint_url=moto_ses.endpoint_url)
    try:
        model, msg = welcome(1, name="Zoë")
        await mailer.send(msg)
    finally:
        await mailer.close()
    [raw] = moto_ses.raw_messages()
    assert raw["destinations"] == [model.userId]
    [sent] = moto_ses.sent()
    assert_welcome(sent, to=model.userId, name="Zoë", owner="Ada", sender=SENDER)


async def test_ses_unverified_sender_is_a_transient_configuration_error(
    moto_ses: MotoSes,
) -> None:
    sender = "Nobody <unverified@bookstore.local>"
    mailer = SesMailer(moto_ses.region, sender=sender, endpoint_url=moto_ses.endpoint_url)
    model = CustomerRegistered.model_validate(customer(1))
    msg = build_welcome_email(model, event_id="e", sender=sender, store_owner="Ada")
    try:
        with pytest.raises(TransientMailError):
            await mailer.send(msg)
    finally:
        await mailer.close()
    assert moto_ses.raw_messages() == []


async def test_ses_unreachable_endpoint_is_transient() -> None:
    from tests.fixtures.procs import free_port

    mailer = SesMailer("us-east-1", sender=SENDER,
                       endpoint_url=f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(TransientMailError):
            await mailer.send(welcome()[1])
    finally:
        await mailer.close()
