#!/usr/bin/env python3
"""check-layers.py - the tree's architecture rules, checked on every `make check`
(docs/architecture.md, issue #12).  Prints one line per finding and exits 1 if there is any.

  * Arrows point down: workflows/ includes nothing of the project but itself; ca-bridge/
    never includes ra/; in ra/, base < {net, db} < jobs < flows/<flow> < the root
    (main.c, server.c, ops.c); a file includes only its own layer or layers below it.
  * ra/ractl/ (the CLI) includes only ra/ractl/ and ra/base/, and its binary links only
    libbase.a (checked in the Makefile rule, not here).
  * No include cycle between folders (flows may use each other, but never in a circle).
  * No extern prototypes in .c files, no weak symbols, one private-header suffix (_int.h).
  * One outbox (docs/jobs.md): no `INSERT INTO audit_log` or `INSERT INTO jobs` in the SQL of
    any file but the outbox helper (ra/db/outbox.c) and the audit append (ra/db/audit.c);
    no state name of the workflows machines as an SQL literal (`state = 'revoked'`,
    `state IN ('issued', ...)`): state names are $n parameters from wf_state_name.
    Migrations (SQL files) are not C and are not checked.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

# rank of each ra/ layer; a file may include a header of a lower or equal rank only
RANK = {"base": 0, "net": 1, "db": 1, "jobs": 2, "flows": 3, "root": 4, "ractl": 1}
# net and db are siblings: neither knows the other
SIBLINGS = {("net", "db"), ("db", "net")}


def files():
    out = subprocess.run(["git", "ls-files", "ra", "ca-bridge", "workflows"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    return [f for f in out if f.endswith((".c", ".h", ".cc"))]


def folder(path):
    """The folder a file belongs to for the cycle check: ra/flows/<flow>, ra/<layer>, ..."""
    parts = path.split("/")
    if parts[0] == "ra":
        if parts[1] == "flows":
            return "ra/flows/" + parts[2]
        if len(parts) == 2:
            return "ra"
        return "ra/" + parts[1]
    if parts[0] == "ca-bridge" and len(parts) > 2:
        return "ca-bridge/" + parts[1]
    return parts[0]


def layer(path):
    parts = path.split("/")
    if len(parts) == 2:
        return "root"
    return parts[1]


OUTBOX_FILES = ("ra/db/outbox.c", "ra/db/audit.c")
# Files landed after the flows moved onto the outbox and not converted yet (none now).
# Shrink this list; never add to it.
NOT_YET_CONVERTED = ()
OUTBOX_INSERT = re.compile(r"\binsert\s+into\s+(audit_log|jobs)\b", re.I)
STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
COMMENT = re.compile(r'/\*.*?\*/|//[^\n]*|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'', re.S)


def state_names():
    """The state names of the machines, read from their tables (workflows/wf_*.c)."""
    names = set()
    for m in ("order", "cert", "user", "phone"):
        text = open(os.path.join(ROOT, "workflows", f"wf_{m}.c"), encoding="utf-8").read()
        block = re.search(r"\bstates\s*\[[^]]*\]\s*=\s*\{(.*?)\};", text, re.S)
        if block:
            names.update(re.findall(r'"([a-z_]+)"', block.group(1)))
    return names


def sql_texts(text):
    """The string literals of a C file without its comments, adjacent literals joined (one
    SQL statement is usually several), with the line each starts on."""
    code = COMMENT.sub(lambda m: m.group(0) if m.group(0).startswith(('"', "'"))
                       else re.sub(r"[^\n]", " ", m.group(0)), text)
    out, cur, start, end = [], None, 0, 0
    for m in STRING.finditer(code):
        if cur is not None and code[end:m.start()].strip() == "":
            cur += m.group(1)
        else:
            if cur is not None:
                out.append((start, cur))
            cur, start = m.group(1), code.count("\n", 0, m.start()) + 1
        end = m.end()
    if cur is not None:
        out.append((start, cur))
    return out


def outbox_findings(f, text, names):
    found = []
    literal = "|".join(sorted(names))
    state_eq = re.compile(r"\bstate\s*(?:=|<>|!=)\s*'(" + literal + r")'")
    state_in = re.compile(r"\bstate\s+(?:not\s+)?in\s*\(([^)]*)\)", re.I)
    for line, sql in sql_texts(text):
        if f not in OUTBOX_FILES and OUTBOX_INSERT.search(sql):
            found.append(f"{f}:{line}: {OUTBOX_INSERT.search(sql).group(0)} outside the outbox helper "
                         "(ra/db/outbox.h: ob_audit, ob_job)")
        for m in state_eq.finditer(sql):
            found.append(f"{f}:{line}: state name '{m.group(1)}' as an SQL literal (pass wf_state_name as $n)")
        for m in state_in.finditer(sql):
            for name in re.findall(r"'([a-z_]+)'", m.group(1)):
                if name in names:
                    found.append(f"{f}:{line}: state name '{name}' as an SQL literal (ob_states as $n::text[])")
    return found


def main():
    findings = []
    names = state_names()
    edges = {}
    for f in files():
        text = open(os.path.join(ROOT, f), encoding="utf-8").read()
        for inc in INCLUDE.findall(text):
            top = inc.split("/")[0]
            if top not in ("ra", "ca-bridge", "workflows", "tests"):
                continue  # a library header (h2o/..., criterion/...)
            if f.startswith("workflows/") and top != "workflows":
                findings.append(f"{f}: workflows/ includes {inc} (pure rules include nothing of the project)")
            if f.startswith("ca-bridge/") and top not in ("ca-bridge",):
                findings.append(f"{f}: ca-bridge/ includes {inc} (ca-bridge never includes ra/)")
            if f.startswith("ra/") and top == "ra":
                a, b = layer(f), layer(inc)
                if a == "ractl" and b not in ("ractl", "base"):
                    findings.append(f"{f}: the CLI includes {inc} (ra/ractl uses ra/base only)")
                elif b == "ractl" and a != "ractl":
                    findings.append(f"{f}: includes the CLI's {inc}")
                elif (a, b) in SIBLINGS or RANK.get(b, 9) > RANK.get(a, 9):
                    findings.append(f"{f}: includes {inc}, a layer above ra/{a}/ (arrows point down)")
            fa, fb = folder(f), folder(inc)
            if fa != fb:
                edges.setdefault(fa, set()).add(fb)
        if f.endswith((".c", ".cc")):
            for n, line in enumerate(text.splitlines(), 1):
                if re.match(r"^(?!static\b|typedef\b|return\b|extern\s+\"C\")[A-Za-z_][\w \*]*\b\w+\s*\([^;{]*\)\s*;\s*$", line) \
                        and not line.startswith((" ", "\t")) and "=" not in line:
                    findings.append(f"{f}:{n}: prototype in a .c file (declare it in the module's header)")
        if f.startswith(("ra/", "ca-bridge/")) and f.endswith((".c", ".cc", ".h")) \
                and f not in NOT_YET_CONVERTED:
            findings.extend(outbox_findings(f, text, names))
        if "__attribute__((weak))" in text or "#pragma weak" in text:
            findings.append(f"{f}: weak symbol")
        if f.endswith("_priv.h"):
            findings.append(f"{f}: private headers end in _int.h")
    # folder-level cycles
    def cycle_from(start):
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in sorted(edges.get(node, ())):
                if nxt == start:
                    return path + [nxt]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
        return None
    reported = set()
    for start in sorted(edges):
        c = cycle_from(start)
        if c and frozenset(c) not in reported:
            reported.add(frozenset(c))
            findings.append("include cycle between folders: " + " -> ".join(c))
    for line in findings:
        print(line)
    if findings:
        print(f"check-layers: {len(findings)} finding(s)")
        return 1
    print("check-layers: 0 findings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
