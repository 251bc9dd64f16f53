"""A small SMTP sink: the CRM's e-mail channel for 'update a record using e-mail'."""

from __future__ import annotations

import socketserver
import time
from email import policy
from email.parser import BytesParser
from typing import Any

from devstack.lookalikes.common import iso_z


class SmtpSinkHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: EHLO/HELO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, QUIT."""

    server: SmtpSink

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 fake-crm ESMTP ready")
        sender, recipients = None, []
        while True:
            raw = self.rfile.readline(65_536)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250-fake-crm")
                self.reply("250-AUTH PLAIN LOGIN")
                self.reply("250 8BITMIME")
            elif verb == "HELO":
                self.reply("250 fake-crm")
            elif verb == "AUTH":
                self._auth(line)
            elif verb == "MAIL":
                sender, recipients = line.partition(":")[2].strip().strip("<>"), []
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(line.partition(":")[2].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                self.server.hub_store(sender, recipients, self._data())
                self.reply("250 OK queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")

    def _auth(self, line: str) -> None:
        # Any credentials pass; they are read and dropped, never stored or logged.
        words = line.split()
        mechanism = words[1].upper() if len(words) > 1 else ""
        if mechanism == "PLAIN":
            if len(words) < 3:
                self.reply("334 ")
                self.rfile.readline()
        elif mechanism == "LOGIN":
            if len(words) < 3:
                self.reply("334 VXNlcm5hbWU6")
                self.rfile.readline()
            self.reply("334 UGFzc3dvcmQ6")
            self.rfile.readline()
        else:
            self.reply("504 Unrecognized authentication type")
            return
        self.reply("235 Authentication successful")

    def _data(self) -> bytes:
        lines = []
        while True:
            raw = self.rfile.readline(1 << 20)
            if not raw or raw in (b".\r\n", b".\n"):
                break
            lines.append(raw[1:] if raw.startswith(b"..") else raw)
        return b"".join(lines)


class SmtpSink(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], hub: Any) -> None:
        super().__init__(address, SmtpSinkHandler)
        self.hub = hub

    def hub_store(self, sender: str | None, recipients: list[str], raw: bytes) -> None:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        attachments = [
            {
                "filename": part.get_filename(),
                "content_type": part.get_content_type(),
                "size": len(part.get_payload(decode=True) or b""),
                "content": (part.get_payload(decode=True) or b"").decode("utf-8", "replace"),
            }
            for part in message.iter_attachments()
        ]
        with self.hub.lock:
            self.hub.emails.append(
                {
                    "from": sender,
                    "to": recipients,
                    "subject": str(message["Subject"]),
                    "message_id": str(message["Message-ID"]),
                    "attachments": attachments,
                    "received_at": iso_z(time.time()),
                }
            )
