from crm.app import create_app
from crm.settings import Settings
from libcommon.settings import load_settings
from libcommon.web import run_service

run_service(create_app, load_settings(Settings), name="crm")
