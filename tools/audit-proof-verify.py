#!/usr/bin/env python3
"""audit-proof-verify.py - check a proof of the RA's audit log with nothing but the published
audit key (docs/audit.md "Checkpoints"); python3 and the openssl command line only.

  audit-proof-verify.py inclusion   --key KEY proof.json   # ractl audit proof SEQ --json
  audit-proof-verify.py consistency --key KEY proof.json   # GET /v1/audit/consistency/M/N

KEY is the audit public key as PEM, or the JSON of GET /v1/audit/key (its public_key).
inclusion: the record's hash recomputed from its fields (docs/audit.md "The hash, exactly"),
its RFC 9162 audit path up to the checkpoint's tree head, the checkpoint's signature.
consistency: both checkpoints' signatures and the RFC 9162 consistency proof between them
(the newer tree contains the older one unchanged: nothing was rewritten or removed).
Exit status 0 verified, 1 not (the reason on stderr), 2 bad usage or input.
"""
import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile


class Failed(Exception):
    pass


def h(b):
    return hashlib.sha256(b).digest()


def node(left, right):
    return h(b"\x01" + left + right)


def leaf(record_hash_hex):
    return h(b"\x00" + bytes.fromhex(record_hash_hex))


def enc(v):
    if v is None:
        return b"-"
    b = v.encode("utf-8")
    return str(len(b)).encode() + b":" + b


def record_hash(r):
    data = b"ra-audit-v1" + b"".join(enc(r[k] if k != "seq" else str(r[k])) for k in (
        "prev_hash", "seq", "at", "actor", "action", "object_type", "object_id", "reason", "details"))
    return hashlib.sha256(data).hexdigest()


def note(cp):
    return "ra-audit-checkpoint-v1\n%d\n%s\n%s\n" % (cp["tree_size"], cp["root_hash"], cp["at"])


def check_signature(cp, key_pem):
    text = note(cp)
    if cp.get("note") is not None and cp["note"] != text:
        raise Failed("checkpoint %d: its note is not the one its fields give" % cp["tree_size"])
    with tempfile.TemporaryDirectory() as d:
        paths = {n: os.path.join(d, n) for n in ("key.pem", "sig.der", "note.txt")}
        with open(paths["key.pem"], "w") as f:
            f.write(key_pem)
        with open(paths["sig.der"], "wb") as f:
            f.write(base64.b64decode(cp["signature"], validate=True))
        with open(paths["note.txt"], "w", newline="") as f:
            f.write(text)
        p = subprocess.run(["openssl", "dgst", "-sha256", "-verify", paths["key.pem"], "-signature",
                            paths["sig.der"], paths["note.txt"]], capture_output=True, text=True)
        if p.returncode != 0 or "Verified OK" not in p.stdout:
            raise Failed("checkpoint %d: the signature does not verify with the audit key" % cp["tree_size"])


def lsb(x):
    return x & 1


def verify_inclusion(index, size, leaf_hash, path, root):
    """RFC 9162 2.1.3.2"""
    if index >= size:
        raise Failed("leaf index %d is not below the tree size %d" % (index, size))
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            raise Failed("the audit path is too long")
        if lsb(fn) or fn == sn:
            r = node(p, r)
            if not lsb(fn):
                while not lsb(fn) and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0 or r != root:
        raise Failed("the audit path does not lead to the checkpoint's tree head")


def verify_consistency(first, second, first_root, second_root, proof):
    """RFC 9162 2.1.4.2"""
    if first == second:
        if proof or first_root != second_root:
            raise Failed("equal sizes need an empty proof and equal tree heads")
        return
    if first == 0 or first > second:
        raise Failed("want 0 < first < second")
    if first & (first - 1) == 0:
        proof = [first_root] + proof
    if not proof:
        raise Failed("empty consistency proof")
    fn, sn = first - 1, second - 1
    while lsb(fn):
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            raise Failed("the consistency proof is too long")
        if lsb(fn) or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            if not lsb(fn):
                while not lsb(fn) and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != first_root or sr != second_root:
        raise Failed("the consistency proof does not join the two tree heads: the log was rewritten")


def load_key(path):
    text = open(path).read()
    if text.lstrip().startswith("{"):
        text = json.loads(text)["public_key"]
    if "BEGIN PUBLIC KEY" not in text:
        raise ValueError("no PEM public key in %s" % path)
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kind", choices=["inclusion", "consistency"])
    ap.add_argument("--key", required=True, help="audit public key: PEM or the JSON of GET /v1/audit/key")
    ap.add_argument("proof", help="the proof JSON (- for stdin)")
    a = ap.parse_args()
    try:
        key = load_key(a.key)
        j = json.load(sys.stdin if a.proof == "-" else open(a.proof))
        if a.kind == "inclusion":
            cp, rec = j["checkpoint"], j["record"]
            check_signature(cp, key)
            if record_hash(rec) != rec["hash"]:
                raise Failed("record %d: its hash does not match its content" % rec["seq"])
            if rec["seq"] != j["leaf_index"] + 1 or j["tree_size"] != cp["tree_size"]:
                raise Failed("the proof's index or size does not fit the record and the checkpoint")
            verify_inclusion(j["leaf_index"], cp["tree_size"], leaf(rec["hash"]),
                             [bytes.fromhex(p) for p in j["path"]], bytes.fromhex(cp["root_hash"]))
            print("verified: record %d (%s) is in the signed checkpoint of tree size %d at %s" % (
                rec["seq"], rec["action"], cp["tree_size"], cp["at"]))
        else:
            f, s = j["first"], j["second"]
            check_signature(f, key)
            check_signature(s, key)
            verify_consistency(f["tree_size"], s["tree_size"], bytes.fromhex(f["root_hash"]),
                               bytes.fromhex(s["root_hash"]), [bytes.fromhex(p) for p in j["proof"]])
            print("verified: the checkpoint of tree size %d extends that of tree size %d unchanged" % (
                s["tree_size"], f["tree_size"]))
    except Failed as e:
        print("NOT verified: %s" % e, file=sys.stderr)
        return 1
    except (OSError, ValueError, KeyError, TypeError) as e:
        print("audit-proof-verify: bad input: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
