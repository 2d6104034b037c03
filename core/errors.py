"""The one project-wide exception that services raise on a broken rule."""


class ApplicationError(Exception):
    """A business rule said no.

    `code` is machine-readable (`"invalid_transition"`), `message` is for people, and
    `fields` maps a field name to its messages when the error is about input.
    """

    def __init__(self, message: str, *, code: str = "invalid", fields: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.fields = fields or {}
