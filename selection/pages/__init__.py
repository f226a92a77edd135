"""The service's pages: the student page (``/``), the administrators' console (``/admin``), sign-in.

Server-rendered Jinja2 templates, every message from a Babel catalog, every asset served by the
service itself. Cookie sessions (kept in Redis) and CSRF protection apply to these routes alone:
the bearer-token API under ``/api/v1`` never sees a cookie.
"""
