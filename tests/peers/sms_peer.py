#!/usr/bin/env python3
"""SMS gateway for tests and `make run`: a real HTTP peer that records what the RA sends.

The RA's side (format: shared/fixtures/README.md, "SMS gateway"):
  POST <any path>   Authorization: Bearer <--token>, JSON {"to": "+43…", "text": "…"}
                    -> 200 {"id": "sms-N"}; wrong or missing token 401; bad body 400.
The tests' side:
  GET    /_control/messages            accepted messages, in order: {id, to, text, path}
  DELETE /_control/messages            forget them
  GET    /_control/requests            every request, accepted or not (method, path, headers, body)
  POST   /_control/fail?count=N&status=S   the next N sends answer S (default 503)
"""

import hmac

from peer_http import PeerHandler, PeerState, arg_parser, serve


class SmsState(PeerState):
    def __init__(self, token):
        super().__init__()
        self.token = token
        self.messages = []
        self.sent = 0  # ids stay unique when the tests clear the messages


class SmsHandler(PeerHandler):
    def route(self, method):
        if method != "POST":
            return self.not_found()
        given = self.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.state.token}".encode()):
            return self.send_json(401, {"error": "unauthorized"})
        body = self.json_body()
        if body is None:
            return
        to, text = body.get("to"), body.get("text")
        if not isinstance(to, str) or not to.startswith("+") or not isinstance(text, str):
            return self.send_json(400, {"error": "bad_message", "message": "need to (E.164), text"})
        with self.state.lock:
            self.state.sent += 1
            msg = {"id": f"sms-{self.state.sent}", "to": to, "text": text,
                   "path": self.url_path}
            self.state.messages.append(msg)
        self.send_json(200, {"id": msg["id"]})

    def control(self, method):
        if self.url_path == "/_control/messages" and method == "GET":
            with self.state.lock:
                self.send_json(200, list(self.state.messages))
        elif self.url_path == "/_control/messages" and method == "DELETE":
            with self.state.lock:
                self.state.messages.clear()
            self.send_json(200, {"ok": True})
        else:
            super().control(method)


def main():
    p = arg_parser("SMS gateway (test peer)")
    p.add_argument("--token", required=True)
    args = p.parse_args()
    serve(SmsHandler, SmsState(args.token), args)


if __name__ == "__main__":
    main()
