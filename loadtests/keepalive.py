"""The load generator's students keep their connections, as browsers do.

geventhttpclient checks a pooled connection before reusing it with ``select()``, which refuses
descriptors above 1023; the check then calls every such connection dead. With thousands of
students, locust holds thousands of sockets, so most students opened a new connection for
every request: 81,167 of 82,580 connections carried a single request in a burst on
2026-11-27. That is not how a student's browser behaves, and it made both sides pay for a TCP
connection per request. ``poll()`` has no such limit.
"""

from __future__ import annotations

import select as _select_module
from typing import Any

from gevent import monkey
from geventhttpclient.connectionpool import ConnectionPool

#: The operating system's poll, not gevent's: with no timeout it is a plain non-blocking call,
#: and gevent's would need a turn of its loop to see a socket already readable.
_os_poll: Any = monkey.get_original("select", "poll") if monkey.is_module_patched("select") else _select_module.poll
_WATCH = _select_module.POLLIN | _select_module.POLLPRI | _select_module.POLLERR | _select_module.POLLHUP


def socket_is_idle(_pool: ConnectionPool, sock: Any) -> bool:
    """An idle keep-alive connection has nothing to read: anything readable is the server's
    close (or stray bytes), and the connection must not carry another request."""
    if sock is None:
        return False
    try:
        if sock.fileno() < 0:
            return False
        poller = _os_poll()
        poller.register(sock.fileno(), _WATCH)
        return not poller.poll(0)
    except (OSError, ValueError):
        return False


def keep_connections_alive() -> None:
    """Make geventhttpclient's pools check their connections with poll()."""
    ConnectionPool._is_socket_alive = socket_is_idle  # type: ignore[method-assign,assignment]
