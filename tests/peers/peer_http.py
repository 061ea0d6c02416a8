"""Shared plumbing of the HTTP test peers (ident_peer.py, sms_peer.py).

The peers are real HTTP servers that the tests and `make run` start in place of the ident
provider and the SMS gateway.  What they have in common lives here: the command line
(--port, --port-file), the port file written atomically once the socket listens (so a
starter script never reads half a number), JSON in and out, a log of every request the RA
made, injected failures for retry tests, and a hang (POST /_control/hang?on=1: every request
that is not a control request waits, unanswered, until ?on=0 or --hang-max seconds; GET
/_control/hang says how many wait now) for the fault tests.  Python 3 standard library only.
"""

import argparse
import json
import os
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def arg_parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 (default): any free port")
    p.add_argument("--port-file", help="write the port here once listening")
    p.add_argument("--hang-max", type=float, default=60.0, help="longest a hung request waits (s)")
    return p


def write_port_file(path, port):
    """Temp file and rename: whoever polls for the file sees all of it or nothing."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


class PeerState:
    """What every peer remembers: the requests it served and the failures still to inject."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.fail_count = 0
        self.fail_status = 503
        self.released = threading.Event()  # set: no hang
        self.released.set()
        self.hanging = 0
        self.hang_max = 60.0

    def hang_here(self, sock):
        """Waits while a hang is on; the request is answered normally afterwards.  False when
        the client gave up meanwhile (closed the connection): nothing is answered then, and
        it no longer counts as hanging."""
        if self.released.is_set():
            return True
        with self.lock:
            self.hanging += 1
        gone, waited = False, 0.0
        while not self.released.wait(0.2) and waited < self.hang_max:
            waited += 0.2
            readable, _, _ = select.select([sock], [], [], 0)
            try:
                if readable and sock.recv(1, socket.MSG_PEEK) == b"":
                    gone = True
                    break
            except OSError:
                gone = True
                break
        with self.lock:
            self.hanging -= 1
        return not gone

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)

    def take_failure(self):
        """Status to answer with if a failure is still pending, else None."""
        with self.lock:
            if self.fail_count <= 0:
                return None
            self.fail_count -= 1
            return self.fail_status


class PeerHandler(BaseHTTPRequestHandler):
    """Base handler: subclasses implement route(method) and use the helpers below.

    Paths under /_control/ are for the tests; everything else is an API call by the RA, which
    is recorded and may be failed on purpose (POST /_control/fail?count=N&status=S).
    """

    server_version = "ra-test-peer/1"
    protocol_version = "HTTP/1.1"
    state = None  # a PeerState, set by serve()

    # -- plumbing ----------------------------------------------------------------------------
    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        split = urlsplit(self.path)
        self.url_path = split.path
        self.query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        self.raw_body = self._read_body()
        self.entry = None
        if self.url_path.startswith("/_control/"):
            self.control(method)
            return
        # Recorded by send_json just before the answer goes out, so a test that has its
        # answer always finds the request in /_control/requests.
        self.entry = {
            "time": time.time(),
            "method": method,
            "path": self.path,
            "headers": dict(self.headers.items()),
            "body": self._body_for_log(),
        }
        if not self.state.hang_here(self.connection):
            self.close_connection = True
            return
        failure = self.state.take_failure()
        if failure is not None:
            self.send_json(failure, {"error": "injected_failure", "status": failure})
        else:
            self.route(method)

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _body_for_log(self):
        try:
            return json.loads(self.raw_body) if self.raw_body else None
        except ValueError:
            return self.raw_body.decode("utf-8", "replace")

    def log_message(self, fmt, *args):
        # Request lines only, never headers: they carry the test's tokens.
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))

    # -- helpers for subclasses --------------------------------------------------------------
    def json_body(self):
        """The body as a JSON object, or None (after answering 400) if it is not one."""
        try:
            obj = json.loads(self.raw_body or b"null")
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            self.send_json(400, {"error": "bad_json", "message": "body must be a JSON object"})
            return None
        return obj

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        if getattr(self, "entry", None) is not None:
            self.entry["status"] = status
            self.state.record(self.entry)
            self.entry = None
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def not_found(self):
        self.send_json(404, {"error": "not_found", "path": self.url_path})

    # -- control endpoints shared by every peer ----------------------------------------------
    def control(self, method):
        """Shared /_control/ routes; subclasses extend by overriding and calling super()."""
        if method == "GET" and self.url_path == "/_control/requests":
            with self.state.lock:
                self.send_json(200, list(self.state.requests))
        elif method == "DELETE" and self.url_path == "/_control/requests":
            with self.state.lock:
                self.state.requests.clear()
            self.send_json(200, {"ok": True})
        elif method == "POST" and self.url_path == "/_control/fail":
            try:
                count = int(self.query.get("count", "1"))
                status = int(self.query.get("status", "503"))
            except ValueError:
                self.send_json(400, {"error": "bad_query"})
                return
            with self.state.lock:
                self.state.fail_count, self.state.fail_status = count, status
            self.send_json(200, {"count": count, "status": status})
        elif method == "POST" and self.url_path == "/_control/hang":
            if self.query.get("on", "1") == "1":
                self.state.released.clear()
            else:
                self.state.released.set()
            self.send_json(200, {"on": not self.state.released.is_set()})
        elif method == "GET" and self.url_path == "/_control/hang":
            with self.state.lock:
                self.send_json(200, {"on": not self.state.released.is_set(), "hanging": self.state.hanging})
        else:
            self.not_found()

    def route(self, method):
        raise NotImplementedError


def serve(handler_cls, state, args):
    handler_cls.state = state
    state.hang_max = args.hang_max
    httpd = ThreadingHTTPServer((args.host, args.port), handler_cls)
    httpd.daemon_threads = True
    port = httpd.server_address[1]
    if args.port_file:
        write_port_file(args.port_file, port)
    sys.stderr.write(f"{handler_cls.__name__} listening on {args.host}:{port}\n")
    sys.stderr.flush()
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
