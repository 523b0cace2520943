"""Book BFF: JWT, User-Agent shaping and forwarding to the Book service."""
