import recommender
from libcommon.settings import load_settings_from_command_line
from libcommon.web import run_service
from recommender.app import create_app
from recommender.settings import Settings

if __name__ == "__main__":
    settings = load_settings_from_command_line(
        Settings, prog="python -m recommender", description=recommender.__doc__
    )
    run_service(create_app, settings, name="recommender")
