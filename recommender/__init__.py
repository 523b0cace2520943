"""Reference recommendation engine for local runs and tests (`python -m recommender`)."""
