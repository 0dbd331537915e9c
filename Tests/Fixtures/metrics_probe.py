# Test helper for the metrics tests: parses an exposition with
# prometheus_client's own text parser, or asks a Prometheus server's HTTP
# API; prints JSON for the Swift test to read.
#   metrics_probe.py parse URL|FILE   -> [{"name", "type", "samples": [{"name", "labels", "value"}]}]
#   metrics_probe.py query BASEURL EXPR -> the API's "result" list
import json
import sys
import urllib.parse
import urllib.request


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode("utf-8")


def parse(source):
    from prometheus_client.parser import text_string_to_metric_families

    text = fetch(source) if source.startswith("http") else open(source, encoding="utf-8").read()
    out = []
    for fam in text_string_to_metric_families(text):
        samples = [{"name": s.name, "labels": s.labels, "value": s.value} for s in fam.samples]
        out.append({"name": fam.name, "type": fam.type, "samples": samples})
    return out


def query(base, expr):
    body = json.loads(fetch(base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
    if body.get("status") != "success":
        raise SystemExit("query failed: " + json.dumps(body))
    return body["data"]["result"]


if sys.argv[1] == "parse":
    print(json.dumps(parse(sys.argv[2])))
else:
    print(json.dumps(query(sys.argv[2], sys.argv[3])))
