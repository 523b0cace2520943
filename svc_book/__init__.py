"""Book service: the catalog over MySQL (or SQLite), plus related books via the breaker."""
