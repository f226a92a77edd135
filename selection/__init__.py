"""The enrollment use case — select and drop from request to commit, idempotency, rate limit,
group commit, recovery, the gate kept in step with the catalog, browsing and the roster — with
the web shell (``selection.web``) and the command line (``selection.cli``) on top.
"""
