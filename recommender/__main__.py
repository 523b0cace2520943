from libcommon.settings import load_settings
from libcommon.web import run_service
from recommender.app import create_app
from recommender.settings import Settings

if __name__ == "__main__":
    run_service(create_app, load_settings(Settings), name="recommender")
