"""'Update a CRM record using e-mail': the metadata file sent to the CRM's mail channel.

The CRM threads the message onto the record named in the subject
(``[#{record_id}]`` by default). This is a ``FileTarget`` only: records are
still created through the CRM's API. SMTP replies map onto the CRM errors:
4xx and connection failures are transient, 5xx permanent.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from shared.crm.errors import CrmRejected, CrmUnavailable
from shared.crm.settings import EmailSettings

log = logging.getLogger(__name__)


class EmailFileSender:
    name = "email"

    def __init__(self, settings: EmailSettings, *, timeout: float = 10.0) -> None:
        self._settings = settings
        self._timeout = timeout

    def attach_file(
        self,
        record_id: str,
        filename: str,
        content: bytes,
        content_type: str,
        replaces: str | None = None,
        marker: str = "",
    ) -> str:
        s = self._settings
        message = EmailMessage()
        message["From"] = s.from_address
        message["To"] = s.to_address
        message["Subject"] = s.subject_template.format(record_id=record_id, filename=filename)
        message["Message-ID"] = make_msgid()
        text = f"Session metadata file {marker or filename}."
        message.set_content(text + (" It supersedes the previous one." if replaces else ""))
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(
            content, maintype=maintype, subtype=subtype or "octet-stream", filename=filename
        )
        self._deliver(message)
        log.info("email: %s sent for record %s", filename, record_id)
        return str(message["Message-ID"])

    def find_file(self, record_id: str, marker: str) -> str | None:
        """A sent message cannot be looked for: after a lost answer the file is sent again."""
        return None

    def _deliver(self, message: EmailMessage) -> None:
        s = self._settings
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self._timeout) as smtp:
                if s.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.username:
                    smtp.login(s.username, s.password.get_secret_value())
                smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:
            # Only the code: the server's text may echo what we sent.
            error = CrmUnavailable if 400 <= exc.smtp_code < 500 else CrmRejected
            raise error(self.name, "send", f"SMTP {exc.smtp_code}", exc.smtp_code) from None
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPNotSupportedError) as exc:
            raise CrmRejected(self.name, "send", type(exc).__name__) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise CrmUnavailable(self.name, "send", type(exc).__name__) from None
