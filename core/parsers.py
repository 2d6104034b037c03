"""DRF's JSON parser, bounded: size and depth checked (see core/json_input.py)."""

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from core import json_input
from core.errors import ApplicationError


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read(limit + 1) if stream is not None else b""
        try:
            return json_input.loads(body or b"null", max_bytes=limit)
        except ApplicationError as exc:
            raise ParseError(exc.message, code=exc.code) from None
