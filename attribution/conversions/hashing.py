"""Normalising and hashing what identifies a shopper, per destination, as each documents:

- email: trimmed, lower-cased, then SHA-256 (hex) - TikTok and Meta alike;
- phone: parsed with `phonenumbers` (Google's libphonenumber) into E.164 using the order's
  country for numbers written without a country code; TikTok hashes the E.164 form **with**
  the `+` (`+12133734253`), Meta hashes the digits only (`12133734253`); a number that does
  not parse as a possible number is left out, never guessed;
- external id: the order's keyed customer hash (itself never the email), SHA-256 again;
- IP address and user agent are never hashed: only Meta takes them, raw, and only with the
  shopper's consent.
"""

import hashlib

import phonenumbers


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def normal_email(email: str) -> str:
    return (email or "").strip().lower()


def hashed_email(email: str) -> str:
    email = normal_email(email)
    return sha256(email) if email and "@" in email else ""


def e164(phone: str, country: str = "") -> str:
    """`+12133734253` for "(213) 373-4253" in the US, or "" when it does not parse."""
    phone = (phone or "").strip()
    if not phone:
        return ""
    try:
        parsed = phonenumbers.parse(phone, (country or "").upper() or None)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(parsed):
        return ""
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def tiktok_phone(phone: str, country: str = "") -> str:
    number = e164(phone, country)
    return sha256(number) if number else ""


def meta_phone(phone: str, country: str = "") -> str:
    number = e164(phone, country)
    return sha256(number.lstrip("+")) if number else ""
