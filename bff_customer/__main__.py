import bff_customer
from bff_customer.app import create_app
from bff_customer.settings import Settings
from libcommon.settings import load_settings_from_command_line
from libcommon.web import run_service

# The guard matters: WORKERS > 1 spawns processes that re-import this module.
if __name__ == "__main__":
    settings = load_settings_from_command_line(
        Settings, prog="python -m bff_customer", description=bff_customer.__doc__
    )
    run_service(create_app, settings, name="bff_customer")
