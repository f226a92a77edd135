"""Load tests: the round-opening rehearsal under locust, the baselines, and their reports.

Run as their own processes (``make loadtest``, ``make bench``, ``make rehearse``); nothing in
the service or the test suite imports this package, so locust's gevent patching stays here.
"""
