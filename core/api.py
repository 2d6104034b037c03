"""The one error shape every API endpoint answers with (see core/errors.py).

Errors look like `{"error": {"code": "...", "message": "...", "fields": {...}}}`.
"""

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ApplicationError, error_body

# An ApplicationError's code -> the HTTP status it answers with (400 for every other code).
STATUS_OF_CODE = {
    "not_found": status.HTTP_404_NOT_FOUND,
    "conflict": status.HTTP_409_CONFLICT,
    "forbidden": status.HTTP_403_FORBIDDEN,  # a rule about who may do it (issue 14: four eyes)
}


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return error_response(exc.code, exc.message, exc.fields, STATUS_OF_CODE.get(exc.code, 400))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        message = "; ".join(
            f"{name}: {' '.join(str(m) for m in _as_list(msgs))}" for name, msgs in fields.items()
        )
        response.data = error_body("invalid", message, fields)
    else:
        detail = getattr(exc, "detail", str(exc))
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = error_body(code, str(detail), {})
    return response


def _as_list(value):
    return value if isinstance(value, list) else [value]


def error_response(code, message, fields, status_code):
    """A DRF response in the one error shape, for API views that answer an error themselves."""
    return Response(error_body(code, message, fields), status=status_code)
