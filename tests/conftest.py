"""Shared pytest plugins: real MariaDB, Kafka (Tansu), SES (moto), SMTP (aiosmtpd), processes."""

import os

os.environ.setdefault("LOG_FORMAT", "text")

pytest_plugins = [
    "tests.fixtures.mariadb",
    "tests.fixtures.procs",
    "tests.fixtures.kafka",
    "tests.fixtures.mail",
]
