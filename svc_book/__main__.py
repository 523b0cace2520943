from libcommon.settings import load_settings
from libcommon.web import run_service
from svc_book.app import create_app
from svc_book.settings import Settings

run_service(create_app, load_settings(Settings), name="svc_book")
