"""The one error shape every API endpoint answers with.

Errors look like `{"error": {"code": "...", "message": "...", "fields": {...}}}`.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ApplicationError


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return error_response(exc.code, exc.message, exc.fields, status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        message = "; ".join(
            f"{name}: {' '.join(str(m) for m in _as_list(msgs))}" for name, msgs in fields.items()
        )
        response.data = _error_body("invalid", message, fields)
    else:
        code = getattr(exc, "default_code", "error")
        detail = getattr(exc, "detail", str(exc))
        response.data = _error_body(code, str(detail), {})
    return response


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _error_body(code, message, fields):
    return {"error": {"code": code, "message": message, "fields": fields}}


def error_response(code, message, fields, status_code):
    """A response in the one error shape, for views that answer an error themselves."""
    return Response(_error_body(code, message, fields), status=status_code)
