# Workload (6): a small Flask app on Werkzeug's threaded server. Serves on
# 127.0.0.1:PORT until /shutdown is requested.
import os
import sys
import threading

from flask import Flask
from werkzeug.serving import make_server

app = Flask(__name__)
server = None


@app.route("/")
def index():
    with open("/etc/hostname") as f:
        return "hello " + f.read().strip()


@app.route("/shutdown")
def shutdown():
    threading.Timer(0.2, server.shutdown).start()
    return "bye"


if __name__ == "__main__":
    port = int(sys.argv[1])
    server = make_server("127.0.0.1", port, app, threaded=True)
    print("listening", flush=True)
    server.serve_forever()
