from bff_customer.app import create_app
from bff_customer.settings import Settings
from libcommon.settings import load_settings
from libcommon.web import run_service

# The guard matters: WORKERS > 1 spawns processes that re-import this module.
if __name__ == "__main__":
    run_service(create_app, load_settings(Settings), name="bff_customer")
