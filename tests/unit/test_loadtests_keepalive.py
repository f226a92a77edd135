"""The load generator reuses a student's connection whatever its descriptor's number."""

from __future__ import annotations

import contextlib
import resource
import socket
from collections.abc import Iterator

import pytest
from geventhttpclient.connectionpool import ConnectionPool

from loadtests.keepalive import keep_connections_alive, socket_is_idle


@contextlib.contextmanager
def _listening() -> Iterator[socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    try:
        yield server
    finally:
        server.close()


@contextlib.contextmanager
def _descriptors_taken(count: int) -> Iterator[None]:
    """Hold ``count`` descriptors, as thousands of students' sockets do in locust."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < count + 64:
        pytest.fail(f"this test needs {count + 64} open files; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, count + 64), hard))
    held = [open("/dev/null", "rb") for _ in range(count)]  # noqa: SIM115
    try:
        yield
    finally:
        for f in held:
            f.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_connection_above_descriptor_1023_is_kept_until_the_server_closes_it() -> None:
    with _listening() as server, _descriptors_taken(1100):
        port = server.getsockname()[1]
        pool = ConnectionPool("127.0.0.1", port, "127.0.0.1", port, size=1)
        sock = pool._create_socket()
        accepted, _ = server.accept()
        try:
            assert sock.fileno() > 1023
            # geventhttpclient's own check calls it dead: select() refuses the descriptor.
            assert pool._is_socket_alive(sock) is False
            assert socket_is_idle(pool, sock) is True
            accepted.close()  # the server ends the keep-alive connection
            assert socket_is_idle(pool, sock) is False
        finally:
            sock.close()
            accepted.close()


def test_the_locust_pools_use_the_poll_check_once_installed() -> None:
    original = ConnectionPool._is_socket_alive
    try:
        keep_connections_alive()
        assert ConnectionPool._is_socket_alive is socket_is_idle
    finally:
        ConnectionPool._is_socket_alive = original  # type: ignore[method-assign]
