"""Turning what a form or serializer cleaned into a service's input: ids and fields."""

from django.db import models


def as_service_fields(data: dict, *, only=None) -> dict:
    """`{"product": <Product 3>, "title": "x"}` -> `{"product_id": 3, "title": "x"}`.

    Model instances become `<name>_id` (None stays None for a cleared relation); form
    bookkeeping (`id`, `DELETE`) is dropped; `only` keeps just those resulting names.
    """
    fields = {}
    for name, value in data.items():
        if name in ("id", "DELETE"):
            continue
        if isinstance(value, models.Model):
            name, value = f"{name}_id", value.pk
        elif value is None and only is not None and f"{name}_id" in only:
            name = f"{name}_id"  # a cleared relation
        fields[name] = value
    if only is not None:
        fields = {name: value for name, value in fields.items() if name in only}
    return fields
