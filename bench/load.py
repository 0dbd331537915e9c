# Load generator for workload (6): REQUESTS GETs from CONCURRENCY threads,
# a new connection each (HTTP/1.0, as Werkzeug serves). Prints requests/s.
import http.client
import sys
import threading
import time

port, requests, concurrency = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
per = requests // concurrency
errors = []


def worker():
    for _ in range(per):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("GET", "/")
            r = c.getresponse()
            r.read()
            c.close()
            if r.status != 200:
                errors.append(r.status)
        except Exception as e:  # noqa: BLE001 - counted, not hidden
            errors.append(repr(e))


t0 = time.perf_counter()
threads = [threading.Thread(target=worker) for _ in range(concurrency)]
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.perf_counter() - t0
print(f"requests_per_second={per * concurrency / elapsed:.1f} errors={len(errors)}")
