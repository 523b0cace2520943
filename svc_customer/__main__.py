import svc_customer
from libcommon.settings import load_settings_from_command_line
from libcommon.web import run_service
from svc_customer.app import create_app
from svc_customer.settings import Settings

# The guard matters: WORKERS > 1 spawns processes that re-import this module.
if __name__ == "__main__":
    settings = load_settings_from_command_line(
        Settings, prog="python -m svc_customer", description=svc_customer.__doc__
    )
    run_service(create_app, settings, name="svc_customer")
