"""Pieces of the buffering worker: a response's head written with its body, gunicorn's settings read once."""

from __future__ import annotations

import socket
import threading

from gunicorn.config import Config

from qa_service.http.worker import HeadWithBody, SettledConfig


def _pair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair()


def _read_all(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_the_head_waits_for_the_body_and_both_leave_in_one_write():
    server, client = _pair()
    with server, client:
        out = HeadWithBody(server)
        out.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
        client.setblocking(False)
        try:
            early = client.recv(100)
        except BlockingIOError:
            early = b""
        assert early == b""  # nothing left before the body
        out.sendall(b"hello")
        client.setblocking(True)
        assert client.recv(1000) == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


def test_a_response_without_a_body_is_written_by_flush():
    server, client = _pair()
    with server, client:
        out = HeadWithBody(server)
        out.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
        out.flush()
        out.flush()
        server.shutdown(socket.SHUT_WR)
        assert _read_all(client) == b"HTTP/1.1 204 No Content\r\n\r\n"


def test_the_head_goes_before_a_body_sent_another_way(tmp_path):
    """gunicorn sends a file's body with ``sendfile``: the held head must be written first."""
    path = tmp_path / "file.txt"
    path.write_bytes(b"file body")
    server, client = _pair()
    with server, client:
        out = HeadWithBody(server)
        out.sendall(b"HEAD\r\n\r\n")
        with open(path, "rb") as fh:
            out.sendfile(fh)
        out.sendall(b"!")
        server.shutdown(socket.SHUT_WR)
        assert _read_all(client) == b"HEAD\r\n\r\nfile body!"


def test_other_attributes_are_the_sockets():
    server, client = _pair()
    with server, client:
        out = HeadWithBody(server)
        assert out.fileno() == server.fileno()
        assert out.gettimeout() == server.gettimeout()


def test_settled_config_reads_each_setting_once_and_gives_the_same_values():
    cfg = Config()
    cfg.set("keepalive", 7)
    settled = SettledConfig(cfg)
    assert settled.keepalive == 7
    assert settled.is_ssl is cfg.is_ssl
    assert settled.forwarded_allow_ips == cfg.forwarded_allow_ips
    assert "keepalive" in vars(settled)


def test_settled_config_is_safe_across_threads():
    settled = SettledConfig(Config())
    values: list[int] = []
    threads = [threading.Thread(target=lambda: values.append(settled.worker_connections)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert values == [Config().worker_connections] * 8
