"""The HTTP contract, through the app against real PostgreSQL and Redis."""
