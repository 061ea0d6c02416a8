#!/usr/bin/env python3
"""Scenario 2 of `make bench`: where the time of each issued certificate went, from the
database's timestamps and the service's own log (run at log level debug).

  issuance.py ROWS LOG  ->  JSON on stdout

ROWS: "job_id cert_id created issued done [key_stored]" (epoch seconds) per cert_issue job:
created is the job's enqueue (jobs.created_at), issued the store statement
(certificates.issued_at, now() of its transaction), done the job's end (jobs.done_at),
key_stored the cert.key_generated audit record (wrapped storage: written in the key-store
transaction after keygen, before the CA is asked; 0 when there is none).  LOG: `ra serve` output; job.start (the
claim handed the job to its handler) and cert.issued (the store committed) give the rest.

Stages per certificate: queue+claim = created -> job.start; token+CA = job.start -> issued
(load the row, keygen, CSR, CA signature, file store, including any wait for the token lock
or a thread-pool slot), split where the key was stored into keygen (job.start -> key stored:
load the row, keygen + wrap on the thread pool) and ca (key stored -> issued: the key-store
commit, the CSR from the blob, the CA signature and its record); store = issued -> cert.issued (certificate row, audit record,
transport_pin job enqueued and the job marked done: one transaction, docs/jobs.md job_done_in).
End to end = created -> cert.issued (the commit); done_at is now() of that transaction, so it
is checked to lie between job.start and cert.issued rather than counted as a stage.
"""
import datetime
import json
import re
import sys

PAIR = re.compile(r'(\w[\w.]*)=("(?:[^"\\]|\\.)*"|\S+)')


def ts(v):
    d = datetime.datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%fZ")
    return d.replace(tzinfo=datetime.timezone.utc).timestamp()


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return 0.0
    k = max(1, min(len(xs), int(p / 100.0 * len(xs) + 0.999999)))
    return xs[k - 1]


def main():
    rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
    start, stored = {}, {}
    for line in open(sys.argv[2]):
        kv = {k: v.strip('"') for k, v in PAIR.findall(line)}
        ev = kv.get("event")
        if ev == "job.start" and kv.get("kind") == "cert_issue":
            start.setdefault(kv["job"], ts(kv["ts"]))
        elif ev == "cert.issued":
            stored[kv["certificate"]] = ts(kv["ts"])
    stages = {"queue_claim": [], "token_ca": [], "keygen": [], "ca": [], "store": [], "end_to_end": []}
    for job, cert, created, issued, done, *key in rows:
        created, issued, done = float(created), float(issued), float(done)
        key = float(key[0]) if key else 0.0
        if job not in start or cert not in stored:
            sys.exit("issuance.py: job %s / certificate %s missing from the log" % (job, cert))
        stages["queue_claim"].append(start[job] - created)
        stages["token_ca"].append(issued - start[job])
        if key > 0:
            stages["keygen"].append(key - start[job])
            stages["ca"].append(issued - key)
        stages["store"].append(stored[cert] - issued)
        # the log's times are milliseconds: allow that much either way
        if not start[job] - 0.002 <= done <= stored[cert] + 0.002:
            sys.exit("issuance.py: job %s marked done outside its certificate's store transaction" % job)
        stages["end_to_end"].append(stored[cert] - created)
    first = min(float(r[2]) for r in rows)
    last = max(stored[r[1]] for r in rows)
    out = {"certs": len(rows), "elapsed_s": round(last - first, 3), "rate": round(len(rows) / (last - first), 2),
           "stages": {k: {"mean_ms": round(1000 * sum(v) / len(v), 2), "p50_ms": round(1000 * pct(v, 50), 2),
                          "p99_ms": round(1000 * pct(v, 99), 2)} for k, v in stages.items() if v}}
    print(json.dumps(out))


main()
