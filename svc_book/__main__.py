import svc_book
from libcommon.settings import load_settings_from_command_line
from libcommon.web import run_service
from svc_book.app import create_app
from svc_book.settings import Settings

# The guard matters: WORKERS > 1 spawns processes that re-import this module.
if __name__ == "__main__":
    settings = load_settings_from_command_line(
        Settings, prog="python -m svc_book", description=svc_book.__doc__
    )
    run_service(create_app, settings, name="svc_book")
