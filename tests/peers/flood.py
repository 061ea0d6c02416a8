#!/usr/bin/env python3
"""A hostile client for tests: opens many idle TCP connections and holds them (issue #20).

--count connections to 127.0.0.1:--port, --per-source of them from each source address in
turn (127.0.0.2, 127.0.0.3, ...: all of 127/8 is loopback), never sending a byte.  When done
it writes "opened N" to --ready-file (temp file and rename) and holds every socket until it
is killed or --hold seconds pass.  A connection the server resets still counts as opened:
what matters is what the server does with the flood, not what the flood keeps.
Python 3 standard library only.
"""

import argparse
import os
import resource
import socket
import sys
import time


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, default=3000)
    p.add_argument("--per-source", type=int, default=150)
    p.add_argument("--ready-file", required=True)
    p.add_argument("--hold", type=float, default=60.0)
    a = p.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.count + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    held, opened = [], 0
    for i in range(a.count):
        src = "127.0.0.%d" % (2 + i // a.per_source)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.bind((src, 0))
            s.connect(("127.0.0.1", a.port))
            opened += 1
            held.append(s)
        except OSError:
            s.close()
    tmp = "%s.tmp.%d" % (a.ready_file, os.getpid())
    with open(tmp, "w") as f:
        f.write("opened %d\n" % opened)
    os.replace(tmp, a.ready_file)
    time.sleep(a.hold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
