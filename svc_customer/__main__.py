from libcommon.settings import load_settings
from libcommon.web import run_service
from svc_customer.app import create_app
from svc_customer.settings import Settings

# The guard matters: WORKERS > 1 spawns processes that re-import this module.
if __name__ == "__main__":
    run_service(create_app, load_settings(Settings), name="svc_customer")
