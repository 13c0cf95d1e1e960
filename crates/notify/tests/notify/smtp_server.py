"""A real SMTP server for the notify tests (aiosmtpd): each message it accepts is parsed with
Python's own email package and written as one JSON file into a directory, whole or not at all.

    python smtp_server.py PORT DIR [--tls starttls|implicit --cert PEM --key PEM]
                                   [--login USER --password-file FILE] [--mechanism LOGIN|PLAIN]
                                   [--hold-first DIR]

With --tls starttls the server offers STARTTLS and takes no mail before it; with --tls implicit
it speaks TLS from the first byte (smtps). With --login it takes mail only from a client that
signed in as USER with the password in FILE, offering AUTH only over TLS (aiosmtpd's default,
as real servers do); --mechanism offers that one mechanism alone. With --hold-first the server
is slow with the first message: it writes DIR/holding once it has the message, keeps the client
waiting for its reply until DIR/release exists, then refuses it for now (451), keeping nothing.
Prints "ready" once it listens; stops when its standard input closes.
"""

import asyncio

import argparse
import email
import email.policy
import json
import os
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Save:
    def __init__(self, directory, hold_first):
        self.directory = directory
        self.count = 0
        self.hold_first = hold_first

    async def handle_DATA(self, server, session, envelope):
        if self.hold_first is not None:
            hold, self.hold_first = self.hold_first, None
            open(os.path.join(hold, "holding"), "w").close()
            while not os.path.exists(os.path.join(hold, "release")):
                await asyncio.sleep(0.02)
            return "451 4.3.0 Slow today, try again later"
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        plain = message.get_body(("plain",))
        html = message.get_body(("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message["From"]),
            "to": str(message["To"]),
            "subject": str(message["Subject"]),
            "message_id": str(message["Message-ID"]),
            "content_type": message.get_content_type(),
            "text": plain.get_content() if plain is not None else None,
            "html": html.get_content() if html is not None else None,
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "login": getattr(session, "roster_login", None),
            "mechanism": getattr(session, "roster_mechanism", None),
        }
        self.count += 1
        name = os.path.join(self.directory, f"{os.getpid()}-{self.count:05}")
        with open(name + ".tmp", "w") as out:
            json.dump(record, out)
        os.rename(name + ".tmp", name + ".json")
        return "250 Message accepted for delivery"


class Authenticator:
    def __init__(self, login, password):
        self.login = login.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        accepted = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.login
            and auth_data.password == self.password
        )
        if accepted:
            session.roster_login = auth_data.login.decode()
            session.roster_mechanism = mechanism
        # handled=False: aiosmtpd answers a refusal itself (535). With handled=True it would
        # answer nothing and the client would wait for a reply until its timeout.
        return AuthResult(success=accepted, handled=False)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("directory")
    parser.add_argument("--tls", choices=["starttls", "implicit"])
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--login")
    parser.add_argument("--password-file")
    parser.add_argument("--mechanism", choices=["LOGIN", "PLAIN"])
    parser.add_argument("--hold-first")
    args = parser.parse_args()

    options = {}
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        if args.tls == "starttls":
            options.update(tls_context=context, require_starttls=True)
        else:
            options.update(ssl_context=context)
    if args.login:
        with open(args.password_file) as file:
            password = file.read().rstrip("\r\n")
        options.update(authenticator=Authenticator(args.login, password), auth_required=True)
        if args.tls == "implicit":
            # aiosmtpd counts only STARTTLS as TLS (aio-libs/aiosmtpd#281): over implicit TLS it
            # would offer no AUTH at all unless told that the connection needs no upgrade.
            options.update(auth_require_tls=False)
        if args.mechanism:
            options.update(auth_exclude_mechanism=[m for m in ("LOGIN", "PLAIN") if m != args.mechanism])
    controller = Controller(Save(args.directory, args.hold_first), hostname="127.0.0.1", port=args.port, **options)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
