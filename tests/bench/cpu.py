#!/usr/bin/env python3
"""CPU seconds used by the processes of a bench run, by group, from /proc (utime + stime).

  cpu.py snap OUT.json --ra PID --pg POSTMASTER_PID --peers DIR   one snapshot
  cpu.py diff A.json B.json OUT.json [--per N]                    B - A per group (and per item)

Groups: ra (the ra serve process and its threads), postgres (the postmaster and every
process it started, living ones; exited ones are in the postmaster's cutime/cstime, so they
are counted too), and each test peer (DIR/NAME.pid).  The load generator reports its own
rusage (bench_intake).  Used by tests/bench/run.sh to say where an order's CPU goes.
"""
import json
import os
import sys

TCK = os.sysconf("SC_CLK_TCK")


def stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    # fields after the name: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17)
    return {"ppid": int(rest[1]), "self": (int(rest[11]) + int(rest[12])) / TCK,
            "children": (int(rest[13]) + int(rest[14])) / TCK}


def tree_cpu(root):
    """root's own CPU, its reaped children's, and every living descendant's."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = stat(d)
            if st is not None:
                kids.setdefault(st["ppid"], []).append(int(d))
    total, todo = 0.0, [root]
    while todo:
        p = todo.pop()
        st = stat(p)
        if st is None:
            continue
        total += st["self"] + st["children"]
        todo.extend(kids.get(p, []))
    return total


def snap(out, args):
    opts = dict(zip(args[::2], args[1::2]))
    res = {}
    if "--ra" in opts:
        res["ra"] = tree_cpu(int(opts["--ra"]))
    if "--pg" in opts:
        res["postgres"] = tree_cpu(int(opts["--pg"]))
    d = opts.get("--peers")
    if d and os.path.isdir(d):
        for f in sorted(os.listdir(d)):
            if f.endswith(".pid"):
                with open(os.path.join(d, f)) as fh:
                    res["peer " + f[:-4]] = tree_cpu(int(fh.read().split()[0]))
    with open(out, "w") as fh:
        json.dump(res, fh)


def diff(a, b, out, args):
    with open(a) as fa, open(b) as fb:
        x, y = json.load(fa), json.load(fb)
    res = {k: round(y[k] - x.get(k, 0.0), 3) for k in y}
    with open(out, "w") as fh:
        json.dump(res, fh)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "snap":
        snap(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) >= 5 and sys.argv[1] == "diff":
        diff(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        sys.exit(__doc__)
