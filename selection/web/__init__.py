"""The web shell: the app factory and every HTTP route, on top of the enrollment use case."""
