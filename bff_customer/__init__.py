"""Customer BFF: JWT, User-Agent shaping and forwarding to the Customer service."""
