# Until tests/conftest.py lists these plugins, make their fixtures visible here.
from tests.fixtures.kafka import tansu_broker, tansu_broker_factory  # noqa: F401
from tests.fixtures.mail import moto_server, moto_ses, smtp_server  # noqa: F401
