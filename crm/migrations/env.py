from libcommon.migrate import run_env

run_env()
