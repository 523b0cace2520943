import bff_book
from bff_book.app import create_app
from bff_book.settings import Settings
from libcommon.settings import load_settings_from_command_line
from libcommon.web import run_service

# The guard matters: WORKERS > 1 spawns processes that re-import this module.
if __name__ == "__main__":
    settings = load_settings_from_command_line(
        Settings, prog="python -m bff_book", description=bff_book.__doc__
    )
    run_service(create_app, settings, name="bff_book")
