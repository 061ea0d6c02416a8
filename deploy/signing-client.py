#!/usr/bin/env python3
"""signing-client.py - a reference client of the RA's signing-service interface (docs/signing.md).

It shows what a remote signing server / signature activation module calls on the RA, with a
`signing` token (ra token create --name NAME --role signing --no-customer-account):

  activate USER-ID CREDENTIAL-ID TRANSPORT-PIN   POST /v1/signing/activations
  event USER-ID locked|app_registered|app_deregistered [--event-id ID] [--comment TEXT]
                                                 POST /v1/signing/events
  list USER-ID [--info] [--chain] [--only-valid] POST /csc/v2/credentials/list
  info CREDENTIAL-ID [--chain]                   POST /csc/v2/credentials/info

The ActivationPIN the user chooses at activation stays with the signing service: this client
never sends one (R12).  The RA's URL and the token come from --url / --token or the
environment (SIGNING_URL, SIGNING_TOKEN: the client's own, as RACTL_URL and RACTL_TOKEN are
ractl's).  Prints the RA's JSON answer; exit status 0 for 2xx, 1 when the RA refused (4xx),
2 for a usage error, 3 when the RA is unreachable or failed (5xx).
Python 3 standard library only.
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
import uuid


def call(url, token, path, body):
    req = urllib.request.Request(url.rstrip("/") + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, {"error": "http_%d" % e.code, "message": text.decode(errors="replace")}


def main():
    p = argparse.ArgumentParser(description="reference client of the RA's signing-service interface")
    p.add_argument("--url", default=os.environ.get("SIGNING_URL", "http://127.0.0.1:8080"))
    p.add_argument("--token", default=os.environ.get("SIGNING_TOKEN"))
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("activate", help="activate a credential with the user's TransportPIN")
    a.add_argument("user_id")
    a.add_argument("credential_id")
    a.add_argument("transport_pin")
    e = sub.add_parser("event", help="report a lock or an app (de)registration")
    e.add_argument("user_id")
    e.add_argument("type", choices=["locked", "app_registered", "app_deregistered"])
    e.add_argument("--event-id", help="idempotency key; repeat it to repeat a delivery (default: random)")
    e.add_argument("--comment")
    lst = sub.add_parser("list", help="the user's credentials (CSC credentials/list)")
    lst.add_argument("user_id")
    lst.add_argument("--info", action="store_true", help="credentialInfo, certInfo and authInfo")
    lst.add_argument("--chain", action="store_true", help="certificates: chain")
    lst.add_argument("--only-valid", action="store_true")
    i = sub.add_parser("info", help="one credential (CSC credentials/info)")
    i.add_argument("credential_id")
    i.add_argument("--chain", action="store_true")
    args = p.parse_args()
    if not args.token:
        p.error("no token: --token or SIGNING_TOKEN")

    if args.cmd == "activate":
        path, body = "/v1/signing/activations", {"user_id": args.user_id, "credential_id": args.credential_id,
                                                 "transport_pin": args.transport_pin}
    elif args.cmd == "event":
        body = {"event_id": args.event_id or "ev-" + uuid.uuid4().hex, "user_id": args.user_id, "type": args.type}
        if args.comment:
            body["comment"] = args.comment
        path = "/v1/signing/events"
    elif args.cmd == "list":
        path, body = "/csc/v2/credentials/list", {"userID": args.user_id, "onlyValid": args.only_valid}
        if args.info:
            body.update(credentialInfo=True, certInfo=True, authInfo=True)
        if args.chain:
            body["certificates"] = "chain"
    else:
        path, body = "/csc/v2/credentials/info", {"credentialID": args.credential_id, "certInfo": True,
                                                  "authInfo": True}
        if args.chain:
            body["certificates"] = "chain"
    try:
        status, answer = call(args.url, args.token, path, body)
    except (urllib.error.URLError, OSError) as err:
        print("signing-client: %s: %s" % (args.url, err), file=sys.stderr)
        return 3
    print(json.dumps(answer, indent=2, sort_keys=True, ensure_ascii=False))
    if status // 100 == 2:
        return 0
    return 1 if status // 100 == 4 else 3


if __name__ == "__main__":
    sys.exit(main())
