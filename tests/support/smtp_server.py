"""A real SMTP server on loopback (aiosmtpd) for tests: stoppable and restartable."""

from __future__ import annotations

import email
import email.message
import email.policy
from typing import Any

from aiosmtpd.controller import Controller

from oversight.devkit.embedded_pg import free_port


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
        return "250 OK"


class SmtpServer:
    """aiosmtpd on a fixed loopback port, stoppable and restartable (server down, back up)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.box = Mailbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.box, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None

    def bodies(self) -> list[str]:
        return [str(m["Subject"]) + "\n" + m.get_content() for _, m in self.box.messages]
