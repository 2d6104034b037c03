"""Secrets at rest and keyed hashes.

Contract:
- `encrypt`/`decrypt` protect secrets Shoploop must be able to read back (webhook secrets,
  OAuth tokens, payout details) with Fernet (AES-128-CBC with HMAC-SHA256, from the
  `cryptography` package). `ENCRYPTION_KEYS` lists Fernet keys, newest first: the first
  encrypts, every one decrypts (`MultiFernet`), so a key is rotated by putting a new one in
  front and running `manage.py rotate_encryption_keys`, then dropping the old one.
- Without `ENCRYPTION_KEYS` (the embedded default, tests) one key is derived from
  `SECRET_KEY`; `check --deploy` warns about that in production, because rotating
  `SECRET_KEY` would then make every stored secret unreadable.
- `EncryptedTextField` stores the Fernet token and hands out the plain text. Tokens are
  randomised, so the column cannot be searched: only `isnull` lookups are allowed.
- `keyed_hash` is for values Shoploop must match but never read back (a shopper's email,
  a network): HMAC-SHA256 under a key derived from `SECRET_KEY` and a purpose, so hashes
  for one purpose cannot be compared with another's.
- Nothing here logs a secret or puts one in an exception message.
"""

import base64
import functools
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class DecryptionError(Exception):
    """A stored secret could not be decrypted with any of ENCRYPTION_KEYS."""


def _derived_key(purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        settings.SECRET_KEY.encode()
    )


@functools.cache
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        keys = (base64.urlsafe_b64encode(_derived_key(b"shoploop.encryption")).decode(),)
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "ENCRYPTION_KEYS must be Fernet keys (32 bytes, url-safe base64), comma separated, "
            "newest first. Make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        ) from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "A stored secret could not be decrypted: was a key dropped from ENCRYPTION_KEYS "
            "before `rotate_encryption_keys` ran?"
        ) from None


def rotate(token: str) -> str:
    """The same secret encrypted under the first key (what `rotate_encryption_keys` does)."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("A stored secret could not be decrypted to rotate it.") from None


def keyed_hash(purpose: str, value: str) -> str:
    """A hex HMAC-SHA256 of `value` for matching without storing it (`purpose` names what)."""
    key = _derived_key(b"shoploop.keyed-hash:" + purpose.encode())
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    a = a.encode() if isinstance(a, str) else a
    b = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a, b)


class EncryptedTextField(models.TextField):
    """A text column holding a Fernet token; reads give the plain text back.

    Empty strings are stored as they are (nothing to hide). The column cannot be searched
    or ordered meaningfully; only `isnull` lookups are allowed.
    """

    description = "Text encrypted at rest"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)

    def get_lookup(self, lookup_name):
        if lookup_name != "isnull":
            return None
        return super().get_lookup(lookup_name)
