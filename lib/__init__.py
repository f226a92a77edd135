"""The shared base under every other package: settings, domain errors, driver failures, the
PostgreSQL pool and its boundary, named SQL, the single-flight cache and log lines.

It imports none of ``courses``, ``quota`` or ``selection``, and nothing here knows HTTP.
"""
