"""Email to creators and applicants, through Django's email framework.

`EMAIL_URL` chooses the backend: the console on the embedded default, SMTP in production.
Messages are rendered from `templates/creators/emails/<name>.txt` (the first line is the
subject) and sent once the surrounding transaction commits, so a rolled-back decision never
emails anyone. A failure to send is logged (`creator.email_failed`, without the address) and
never undoes the decision: the person can ask for another link.
"""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


def render(name: str, context: dict) -> tuple[str, str]:
    """(subject, body) of `templates/creators/emails/<name>.txt`."""
    text = render_to_string(
        f"creators/emails/{name}.txt", {"brand": settings.PORTAL_BRAND_NAME, **context}
    )
    subject, _, body = text.strip().partition("\n")
    return subject.strip(), body.strip() + "\n"


def send_on_commit(name: str, *, to: str, context: dict) -> None:
    """Send `name` to `to` after the transaction commits (at once outside one)."""
    subject, body = render(name, context)

    def send():
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])
        except Exception:
            logger.exception("creator.email_failed", extra={"email": name})
        else:
            logger.info("creator.email_sent", extra={"email": name})

    transaction.on_commit(send)
