"""A real service in its own processes: killed workers, Redis restarted empty, PostgreSQL cut."""
