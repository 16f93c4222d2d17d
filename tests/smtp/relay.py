"""A real SMTP relay for the tests (aiosmtpd from PyPI): plain, STARTTLS or implicit TLS, with
or without AUTH. Started by tests/src/smtp.rs (`Relay`); speaks JSON lines on stdout:

  {"event": "ready", "port": N}                  once listening on 127.0.0.1:N
  {"event": "message", "mail_from", "rcpt_tos", "data", "tls", "user"}   per accepted message
  {"event": "auth", "user", "ok"}                per AUTH attempt

It stops when its standard input closes (the test dropped it) or on SIGTERM.
"""

import argparse
import asyncio
import json
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def emit(**event):
    sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
    sys.stdout.flush()


class Keep:
    """Keeps nothing itself: every accepted message goes to stdout."""

    async def handle_DATA(self, server, session, envelope):
        transport = server.transport
        emit(
            event="message",
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            data=envelope.content.decode("utf-8", "replace"),
            tls=transport is not None and transport.get_extra_info("ssl_object") is not None,
            user=session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
        )
        return "250 OK queued"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        emit(event="auth", user=auth_data.login.decode() if isinstance(auth_data, LoginPassword) else None, ok=ok)
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    return check


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tls", choices=["none", "starttls", "implicit"], default="none")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--no-smtputf8", action="store_true", help="do not offer SMTPUTF8 (non-ASCII addresses)")
    a = p.parse_args()

    context = None
    if a.tls != "none":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(a.cert, a.key)

    def factory():
        # SMTPUTF8 as Postfix offers it by default: the alerts go to addresses like 東京-official@….
        kwargs = dict(hostname="relay.test", ident="renkei-test-relay (aiosmtpd)", enable_SMTPUTF8=not a.no_smtputf8)
        if a.user is not None:
            # Unauthenticated senders are refused (530): mail can only pass by logging in.
            kwargs.update(authenticator=authenticator(a.user, a.password), auth_required=True)
        if a.tls == "starttls":
            # STARTTLS or nothing; AUTH is offered only once the session is encrypted.
            kwargs.update(tls_context=context, require_starttls=True, auth_require_tls=True)
        elif a.tls == "implicit":
            # The whole connection is TLS already (aiosmtpd only counts STARTTLS as TLS).
            kwargs.update(auth_require_tls=False)
        else:
            kwargs.update(auth_require_tls=a.user is None)
        return SMTP(Keep(), **kwargs)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        factory, "127.0.0.1", 0, ssl=context if a.tls == "implicit" else None
    )
    emit(event="ready", port=server.sockets[0].getsockname()[1])

    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    # The test's end (or its crash) closes our stdin: go away with it.
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.buffer.read1(4096) or stop.set())
    await stop.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
