#!/usr/bin/env python3
"""IDnow-style identification provider for tests and `make run` (a real HTTP peer, not a mock).

The RA's side of the API (formats: shared/fixtures/README.md):
  POST /api/v1/{companyid}/login                            {"apiKey"} -> {"authToken"}
  POST /api/v1/{companyid}/identifications/{tx}/start       -> {"id": "TST-XXXXX"}
  GET  /api/v1/{companyid}/identifications/{tx}             -> the stored result, 404 if none
Both identification calls need header X-API-LOGIN-TOKEN with a token from login (else 401);
a wrong company id gets 404.  Starting the same tx again answers with the same ident id.

The tests' side, which plays the customer and the provider's agents:
  PUT    /_control/result/{tx}        body: a full IDnow result JSON; stored as tx's result
  GET    /_control/identifications    {tx: ident id} of every started identification
  GET    /_control/requests           every API request received (method, path, headers, body)
  DELETE /_control/requests           forget them
  POST   /_control/fail?count=N&status=S   the next N API calls answer S (default 503)
  POST   /_control/reset-tokens       forget issued tokens (the RA must log in again)
  POST   /_control/callback/{tx}      body {"url", "token"?, "basic"?: "user:pw", "body"?}:
         POST tx's stored result (or "body" instead, to make the callback and the provider's
         record disagree) to url with X-Callback-Token / Basic auth; answers
         {"status": <RA's status>, "body": <RA's answer>}, 502 if the RA cannot be reached.
"""

import base64
import hmac
import json
import re
import secrets
import string
import urllib.error
import urllib.request

from peer_http import PeerHandler, PeerState, arg_parser, serve

API = re.compile(r"^/api/v1/([^/]+)/(login|identifications/([^/]+)(/start)?)$")


class IdentState(PeerState):
    def __init__(self, company_id, api_key):
        super().__init__()
        self.company_id = company_id
        self.api_key = api_key
        self.tokens = set()
        self.idents = {}   # tx -> ident id
        self.results = {}  # tx -> result JSON


class IdentHandler(PeerHandler):
    def route(self, method):
        m = API.match(self.url_path)
        if not m:
            return self.not_found()
        company, what, tx, start = m.groups()
        if company != self.state.company_id:
            return self.send_json(404, {"error": "unknown_company"})
        if what == "login":
            return self.login() if method == "POST" else self.not_found()
        if not self.authorised():
            return self.send_json(401, {"error": "unauthorized"})
        if start and method == "POST":
            return self.start(tx)
        if not start and method == "GET":
            return self.result(tx)
        return self.not_found()

    def login(self):
        body = self.json_body()
        if body is None:
            return
        key = str(body.get("apiKey", ""))
        if not hmac.compare_digest(key.encode(), self.state.api_key.encode()):
            return self.send_json(401, {"error": "bad_api_key"})
        token = secrets.token_hex(16)
        with self.state.lock:
            self.state.tokens.add(token)
        self.send_json(200, {"authToken": token})

    def authorised(self):
        token = self.headers.get("X-API-LOGIN-TOKEN", "")
        with self.state.lock:
            return token in self.state.tokens

    def start(self, tx):
        with self.state.lock:
            ident = self.state.idents.get(tx)
            if ident is None:
                ident = "TST-" + "".join(secrets.choice(string.ascii_uppercase) for _ in range(5))
                self.state.idents[tx] = ident
        self.send_json(200, {"id": ident})

    def result(self, tx):
        with self.state.lock:
            res = self.state.results.get(tx)
        if res is None:
            return self.send_json(404, {"error": "not_found", "transactionnumber": tx})
        self.send_json(200, res)

    # -- control -------------------------------------------------------------------------------
    def control(self, method):
        p = self.url_path
        if method == "PUT" and p.startswith("/_control/result/"):
            body = self.json_body()
            if body is not None:
                with self.state.lock:
                    self.state.results[p.rsplit("/", 1)[1]] = body
                self.send_json(200, {"ok": True})
        elif method == "GET" and p == "/_control/identifications":
            with self.state.lock:
                self.send_json(200, dict(self.state.idents))
        elif method == "POST" and p == "/_control/reset-tokens":
            with self.state.lock:
                self.state.tokens.clear()
            self.send_json(200, {"ok": True})
        elif method == "POST" and p.startswith("/_control/callback/"):
            self.callback(p.rsplit("/", 1)[1])
        else:
            super().control(method)

    def callback(self, tx):
        spec = self.json_body()
        if spec is None:
            return
        with self.state.lock:
            payload = spec.get("body", self.state.results.get(tx))
        if payload is None or not spec.get("url"):
            return self.send_json(404, {"error": "no_result_or_url", "transactionnumber": tx})
        req = urllib.request.Request(spec["url"], data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        if spec.get("token"):
            req.add_header("X-Callback-Token", spec["token"])
        if spec.get("basic"):
            req.add_header("Authorization",
                           "Basic " + base64.b64encode(spec["basic"].encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        except OSError as e:
            return self.send_json(502, {"error": "callback_failed", "message": str(e)})
        self.send_json(200, {"status": status, "body": text.decode("utf-8", "replace")})


def main():
    p = arg_parser("IDnow-style identification provider (test peer)")
    p.add_argument("--company-id", default="trustra")
    p.add_argument("--api-key", required=True)
    args = p.parse_args()
    serve(IdentHandler, IdentState(args.company_id, args.api_key), args)


if __name__ == "__main__":
    main()
