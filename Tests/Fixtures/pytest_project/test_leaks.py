import asyncio
import os
import socket
import threading

import pytest

KEPT = []


def test_global_socket():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    client = socket.create_connection(server.getsockname())  # LEAK(socket)
    accepted, _ = server.accept()
    accepted.close()  # the peer hangs up: the kept end is in CLOSE_WAIT
    server.close()
    KEPT.append(client)


def test_event_loop():
    KEPT.append(asyncio.new_event_loop())  # LEAK(loop)


def test_thread_pipe(shared_log):
    def leak():
        KEPT.append(os.pipe())  # LEAK(pipe)

    t = threading.Thread(target=leak, name="leaker")
    t.start()
    t.join()


@pytest.mark.fdtrace(max_leaks=1)
def test_allowed_by_marker():
    KEPT.append(open(os.devnull))
