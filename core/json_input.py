"""JSON from outside (request bodies, webhooks, import files, scraped JSON-LD), bounded.

`loads` refuses, with an `ApplicationError` whose code names the rule, a body larger than
`max_bytes`, text that is not JSON, and nesting deeper than `max_depth` (default
`JSON_MAX_DEPTH`, 64). Python's parser itself gives up with a RecursionError somewhere near
a thousand levels; that is caught too, so hostile nesting is a clear 400, never a 500.
"""

import json

from django.conf import settings

from core.errors import ApplicationError


def loads(text: bytes | str, *, max_bytes: int | None = None, max_depth: int | None = None):
    max_depth = settings.JSON_MAX_DEPTH if max_depth is None else max_depth
    if max_bytes is not None and len(text) > max_bytes:
        raise ApplicationError(
            f"The body is larger than {max_bytes:,} bytes.", code="body_too_large"
        )
    try:
        data = json.loads(text)
    except RecursionError:
        raise _too_deep(max_depth) from None
    except UnicodeDecodeError:
        raise ApplicationError("The body is not UTF-8 text.", code="invalid_json") from None
    except ValueError as exc:
        raise ApplicationError(f"The body is not valid JSON: {exc}.", code="invalid_json") from None
    if depth_exceeds(data, max_depth):
        raise _too_deep(max_depth)
    return data


def depth_exceeds(data, limit: int) -> bool:
    """True if arrays and objects nest more than `limit` levels (iterative: no recursion)."""
    stack = [(data, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if level > limit:
            return True
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return False


def _too_deep(limit: int) -> ApplicationError:
    return ApplicationError(
        f"The JSON nests arrays and objects more than {limit} levels deep.", code="json_too_deep"
    )
