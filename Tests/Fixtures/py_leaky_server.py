# Fixture: a TCP server that leaks every connection it accepts (it never
# closes one: a client that hangs up leaves it in CLOSE_WAIT). Writes its
# port to argv[1] (atomically) once it listens; runs until killed.
import os
import socket
import sys

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(128)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
held = []
while True:
    conn, _ = server.accept()  # the leak: never closed
    held.append(conn)
