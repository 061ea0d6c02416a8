#!/usr/bin/env python3
"""CPU seconds used by the processes of a bench run, by group, from /proc (utime + stime).

  cpu.py snap OUT.json --ra PID --pg POSTMASTER_PID --peers DIR   one snapshot
  cpu.py diff A.json B.json OUT.json                              B - A per group

Groups: ra (the ra serve process and its threads), postgres (the postmaster and every
process it started, living ones; exited ones are in the postmaster's cutime/cstime, so they
are counted too), and each test peer (DIR/NAME.pid).  The load generator reports its own
rusage (bench_intake).  Used by tests/bench/run.sh to say where an order's CPU goes.
"postgres_by" splits PostgreSQL's: "sessions" are the backends living at both snapshots (the
service's pooled connections), "new sessions" those that started in between (the bench's own
psql checks), "exited" what ended in between (short connections, autovacuum workers), and the
auxiliary processes by name (walwriter, checkpointer, autovacuum launcher, ...).  "ra_by"
splits ra serve's: its loop thread (the main thread) and the others (libuv's thread pool).
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


def title(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def pg_procs(root):
    """pid -> [kind, own CPU] for the postmaster's children; kind "session" for a backend."""
    res = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = stat(d)
            if st is not None and st["ppid"] == root:
                t = title(d)
                kind = t[len("postgres: "):] if t.startswith("postgres: ") else t
                # a backend's title is "user database host state": a session, whatever it does
                if kind.split()[:1] and kind.split()[0] not in ("checkpointer", "background", "walwriter",
                                                                "autovacuum", "logical", "archiver", "stats"):
                    kind = "session"
                res[d] = [kind, st["self"] + st["children"]]
    return res


def thread_cpu(pid):
    """the main (loop) thread's CPU and the other threads' together"""
    main, other = 0.0, 0.0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return main, other
    for t in tids:
        try:
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        v = (int(rest[11]) + int(rest[12])) / TCK
        if t == str(pid):
            main += v
        else:
            other += v
    return main, other


def snap(out, args):
    opts = dict(zip(args[::2], args[1::2]))
    res = {}
    if "--ra" in opts:
        res["ra"] = tree_cpu(int(opts["--ra"]))
        res["_ra_threads"] = thread_cpu(int(opts["--ra"]))
    if "--pg" in opts:
        res["postgres"] = tree_cpu(int(opts["--pg"]))
        pm = stat(int(opts["--pg"]))
        res["_pg_procs"] = pg_procs(int(opts["--pg"]))
        res["_pg_postmaster"] = [pm["self"], pm["children"]] if pm else [0.0, 0.0]
    d = opts.get("--peers")
    if d and os.path.isdir(d):
        for f in sorted(os.listdir(d)):
            if f.endswith(".pid"):
                with open(os.path.join(d, f)) as fh:
                    res["peer " + f[:-4]] = tree_cpu(int(fh.read().split()[0]))
    # the machine's counters (first line of /proc/stat, clock ticks): steal is the time the
    # hypervisor gave this machine's vCPUs to other guests, per interval rather than per run
    with open("/proc/stat") as fh:
        res["_machine"] = [int(v) for v in fh.readline().split()[1:]]
    with open(out, "w") as fh:
        json.dump(res, fh)


def diff(a, b, out, args):
    with open(a) as fa, open(b) as fb:
        x, y = json.load(fa), json.load(fb)
    res = {k: round(y[k] - x.get(k, 0.0), 3) for k in y if not k.startswith("_")}
    if "_pg_procs" in x and "_pg_procs" in y:
        by = {}
        pa, pb = x["_pg_procs"], y["_pg_procs"]
        for pid, (kind, v) in pb.items():
            if pid in pa:
                name = "sessions" if kind == "session" else kind
                by[name] = by.get(name, 0.0) + v - pa[pid][1]
            else:
                name = "new sessions" if kind == "session" else kind
                by[name] = by.get(name, 0.0) + v
        # what ended in between: in the postmaster's children's time now (not what it had
        # used at the first snapshot, which was counted there as living)
        gone = sum(v for pid, (kind, v) in pa.items() if pid not in pb)
        by["exited"] = y["_pg_postmaster"][1] - x["_pg_postmaster"][1] - gone
        by["postmaster"] = y["_pg_postmaster"][0] - x["_pg_postmaster"][0]
        res["postgres_by"] = {k: round(v, 3) for k, v in sorted(by.items(), key=lambda kv: -kv[1])}
    if "_machine" in x and "_machine" in y:
        d = [b - a for a, b in zip(x["_machine"], y["_machine"])]
        # user nice system idle iowait irq softirq steal (guest time is within user)
        total = sum(d[:8])
        res["machine_steal_share"] = round(d[7] / total, 4) if total > 0 and len(d) >= 8 else 0.0
    if "_ra_threads" in x and "_ra_threads" in y:
        res["ra_by"] = {"loop thread": round(y["_ra_threads"][0] - x["_ra_threads"][0], 3),
                        "other threads": round(y["_ra_threads"][1] - x["_ra_threads"][1], 3)}
    with open(out, "w") as fh:
        json.dump(res, fh)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "snap":
        snap(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) >= 5 and sys.argv[1] == "diff":
        diff(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        sys.exit(__doc__)
