#!/usr/bin/env python3
"""SMTP server for tests and `make run`: accepts every message and writes it to a folder.

Each message becomes <dir>/<nanoseconds>-<n>.eml (written to a dot-temp file, then renamed, so
a reader never sees half a message), with X-Envelope-From / X-Envelope-To prepended so tests
can check the envelope as well as the headers.  Submission needs no AUTH; a client that does
AUTH (PLAIN/LOGIN, no TLS) is accepted with any credentials.

aiosmtpd's SMTP protocol is served on an asyncio server bound to port 0 rather than through
aiosmtpd.controller.Controller, which wants a fixed port: this way the kernel picks a free
port with no race, and the actual port goes to --port-file once the socket listens.
"""

import asyncio
import itertools
import os
import signal
import sys
import time

from aiosmtpd.smtp import SMTP, AuthResult

from peer_http import arg_parser, write_port_file


class Sink:
    def __init__(self, folder):
        self.folder = folder
        self.seq = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        n = next(self.seq)
        head = (f"X-Envelope-From: <{envelope.mail_from}>\r\n"
                f"X-Envelope-To: {', '.join(f'<{r}>' for r in envelope.rcpt_tos)}\r\n")
        data = head.encode() + envelope.original_content
        tmp = os.path.join(self.folder, f".tmp-{n}")
        with open(tmp, "wb") as f:
            f.write(data)
        name = os.path.join(self.folder, f"{time.time_ns()}-{n:06d}.eml")
        os.replace(tmp, name)
        sys.stderr.write(f"mail {n} from {envelope.mail_from} to {envelope.rcpt_tos} -> {name}\n")
        return "250 Message accepted"


def accept_any(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=True)


async def run(args):
    loop = asyncio.get_running_loop()
    sink = Sink(args.dir)

    def protocol():
        return SMTP(sink, loop=loop, hostname="localhost", enable_SMTPUTF8=True,
                    authenticator=accept_any, auth_require_tls=False)

    server = await loop.create_server(protocol, args.host, args.port)
    port = server.sockets[0].getsockname()[1]
    if args.port_file:
        write_port_file(args.port_file, port)
    sys.stderr.write(f"mail sink listening on {args.host}:{port}, writing to {args.dir}\n")
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main():
    p = arg_parser("SMTP sink (test peer)")
    p.add_argument("--dir", required=True, help="folder for the received .eml files")
    args = p.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
