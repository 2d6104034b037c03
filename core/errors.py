"""The one project-wide exception that services raise, and the one way to show it.

Services raise only `ApplicationError` (never Django's `ValidationError`): `code` is
machine-readable, `message` is for people, `fields` maps a field name to its messages when
the error is about input. Each surface translates it one way, here:

- API and JSON views: `error_body` / `error_response` give `{"error": {"code", "message",
  "fields"}}` (DRF's exception handler in `core/api.py` uses the same body);
- forms and the admin: `as_validation_error` turns it into the `ValidationError` a form
  shows beside its fields;
- reports, logs and command output: `error_message` gives one line of text for any error.
"""

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse


class ApplicationError(Exception):
    """A business rule said no.

    `code` is machine-readable (`"invalid_transition"`), `message` is for people, and
    `fields` maps a field name to its messages when the error is about input.
    """

    def __init__(self, message: str, *, code: str = "invalid", fields: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.fields = {name: _as_list(msgs) for name, msgs in (fields or {}).items()}

    @classmethod
    def from_validation_error(
        cls, exc: DjangoValidationError, *, code: str = "invalid", prefix: str = ""
    ) -> "ApplicationError":
        """Wrap the `ValidationError` of a model's `full_clean` (field names kept).

        `prefix` names the item of a list the error is about: `rules[1].`.
        """
        if hasattr(exc, "error_dict"):
            fields = {
                (prefix + name if name != NON_FIELD_ERRORS else prefix.rstrip(".") or name): msgs
                for name, msgs in exc.message_dict.items()
            }
        else:
            fields = {prefix.rstrip(".") or NON_FIELD_ERRORS: exc.messages} if prefix else {}
        return cls(_fields_text(fields) or " ".join(exc.messages), code=code, fields=fields)


def full_clean(instance, **kwargs) -> None:
    """`instance.full_clean(**kwargs)`, raising ApplicationError with the field messages."""
    try:
        instance.full_clean(**kwargs)
    except DjangoValidationError as exc:
        raise ApplicationError.from_validation_error(exc) from None


def error_message(exc: BaseException) -> str:
    """One line of text for any error: what reports, logs and command output show."""
    if isinstance(exc, ApplicationError):
        return exc.message
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return _fields_text(exc.message_dict)
        return " ".join(exc.messages)
    return str(exc)


def as_validation_error(exc: ApplicationError) -> DjangoValidationError:
    """The `ValidationError` a form or the admin shows: beside each field, else on top."""
    if exc.fields:
        return DjangoValidationError(
            {name: [DjangoValidationError(m, code=exc.code) for m in msgs]
             for name, msgs in exc.fields.items()}
        )  # fmt: skip
    return DjangoValidationError(exc.message, code=exc.code)


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def error_response(code: str, message: str, fields: dict | None = None, *, status: int = 400):
    """A JSON error response in the one shape, for views that are not DRF views."""
    return JsonResponse(error_body(code, message, fields), status=status)


def _as_list(value) -> list:
    return [str(m) for m in value] if isinstance(value, list | tuple) else [str(value)]


def _fields_text(fields: dict) -> str:
    return "; ".join(
        (f"{name}: " if name != NON_FIELD_ERRORS else "") + " ".join(_as_list(msgs))
        for name, msgs in fields.items()
    )
