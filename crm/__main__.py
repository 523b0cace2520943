import crm
from crm.app import create_app
from crm.settings import Settings
from libcommon.settings import load_settings_from_command_line
from libcommon.web import run_service

# The guard matters: WORKERS > 1 spawns processes that re-import this module.
if __name__ == "__main__":
    settings = load_settings_from_command_line(
        Settings, prog="python -m crm", description=crm.__doc__
    )
    run_service(create_app, settings, name="crm")
