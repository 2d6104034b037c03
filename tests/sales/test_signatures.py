"""Each provider's signature check against the provider's own documented example or official
test vector, and against the construction its documents give, on the raw bytes."""

import base64
import hashlib
import hmac
import subprocess
import time
from types import SimpleNamespace

import pytest

from sales.providers import shopify, standard, stripe, tiktok_shop
from testservers import webhooks

# --- Standard Webhooks: the reference implementation's test vector (from the issue) --------

SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TIMESTAMP = 1614265330
SW_BODY = b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def sw_headers(**overrides):
    headers = {
        "webhook-id": SW_ID,
        "webhook-timestamp": str(SW_TIMESTAMP),
        "webhook-signature": SW_SIGNATURE,
    }
    headers.update(overrides)
    return headers


def test_standard_webhooks_official_vector():
    assert standard.sign(SW_SECRET, SW_ID, SW_TIMESTAMP, SW_BODY) == SW_SIGNATURE
    result = standard.verify([SW_SECRET], SW_BODY, sw_headers(), now=SW_TIMESTAMP + 10)
    assert result.ok, result.reason


def test_standard_webhooks_several_signatures_and_versions():
    header = f"v2,abc {SW_SIGNATURE} v1,Zm9v"
    assert standard.verify([SW_SECRET], SW_BODY, sw_headers(**{"webhook-signature": header}),
                           now=SW_TIMESTAMP).ok  # fmt: skip


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (sw_headers(**{"webhook-signature": ""}), "missing"),
        ({"webhook-id": SW_ID, "webhook-timestamp": str(SW_TIMESTAMP)}, "missing"),
        (sw_headers(**{"webhook-signature": "garbage"}), "malformed"),  # the library raises
        (sw_headers(**{"webhook-signature": "v1,***not-base64***"}), "malformed"),
        (sw_headers(**{"webhook-timestamp": "yesterday"}), "malformed"),
        (sw_headers(**{"webhook-signature": "v1,Zm9vYmFy"}), "invalid"),
        (sw_headers(**{"webhook-id": "msg_other"}), "invalid"),
    ],
)
def test_standard_webhooks_refusals(headers, expected):
    assert standard.verify([SW_SECRET], SW_BODY, headers, now=SW_TIMESTAMP).signature == expected


def test_standard_webhooks_tolerance_both_ways():
    assert standard.verify([SW_SECRET], SW_BODY, sw_headers(), now=SW_TIMESTAMP + 301).signature \
        == "stale"  # fmt: skip
    assert standard.verify([SW_SECRET], SW_BODY, sw_headers(), now=SW_TIMESTAMP - 301).signature \
        == "stale"  # fmt: skip
    assert standard.verify([SW_SECRET], SW_BODY, sw_headers(), now=SW_TIMESTAMP + 299).ok


def test_standard_webhooks_one_changed_byte_fails():
    assert standard.verify([SW_SECRET], SW_BODY + b" ", sw_headers(),
                           now=SW_TIMESTAMP).signature == "invalid"  # fmt: skip


# --- TikTok Shop: the webhooks overview's worked example ----------------------------------

TTS_BODY = (
    b'{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507",'
    b'"timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178",'
    b'"order_status":"UNPAID","update_time":1718305585}}'
)
TTS_SIGNATURE = "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05"


def test_tiktok_shop_webhook_documented_example():
    channel = SimpleNamespace(app_key="abcdef")
    assert tiktok_shop.webhook_signature("abcdef", "123", TTS_BODY) == TTS_SIGNATURE
    assert tiktok_shop.verify(["123"], TTS_BODY, {"authorization": TTS_SIGNATURE},
                              channel=channel).ok  # fmt: skip
    assert tiktok_shop.verify(["wrong", "123"], TTS_BODY, {"authorization": TTS_SIGNATURE},
                              channel=channel).ok  # fmt: skip


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", "missing"),
        ("Bearer " + TTS_SIGNATURE, "malformed"),
        (TTS_SIGNATURE.upper(), "malformed"),
        ("0" * 64, "invalid"),
    ],
)
def test_tiktok_shop_webhook_refusals(header, expected):
    channel = SimpleNamespace(app_key="abcdef")
    headers = {"authorization": header} if header else {}
    assert tiktok_shop.verify(["123"], TTS_BODY, headers, channel=channel).signature == expected


def test_tiktok_shop_request_signing_documented_example():
    """ "Sign your API request": Get Authorized Shops with app secret e59af819cc."""
    sign = tiktok_shop.sign_request(
        "e59af819cc",
        "/authorization/202309/shops",
        {"app_key": "29a39d", "timestamp": "1623812664", "access_token": "TTP_x", "sign": "y"},
    )
    assert sign == "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"


def test_tiktok_shop_request_signing_includes_the_body_unless_multipart():
    params = {"app_key": "68xu9ks5p4i8", "shop_cipher": "ROW_x", "timestamp": "1696909648"}
    body = b'{"address":"https://partner.tiktokshop.com","event_type":"PACKAGE_UPDATE"}'
    wrapped = ("e59af819cc/event/202309/webhooksapp_key68xu9ks5p4i8shop_cipherROW_x"
               "timestamp1696909648" + body.decode() + "e59af819cc")  # fmt: skip
    expected = hmac.new(b"e59af819cc", wrapped.encode(), hashlib.sha256).hexdigest()
    assert tiktok_shop.sign_request("e59af819cc", "/event/202309/webhooks", params, body) \
        == expected  # fmt: skip
    assert tiktok_shop.sign_request("e59af819cc", "/p", params, body, "multipart/form-data") \
        == tiktok_shop.sign_request("e59af819cc", "/p", params, b"")  # fmt: skip


# --- Stripe: the documented construction (stripe-python's WebhookSignature) --------------

STRIPE_SECRET = "whsec_test_secret"
STRIPE_BODY = b'{\n  "id": "evt_test_webhook",\n  "object": "event"\n}'


def stripe_header(timestamp, secret=STRIPE_SECRET, scheme="v1"):
    signed = f"{timestamp}.".encode() + STRIPE_BODY
    return (
        f"t={timestamp},{scheme}=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    )


def test_stripe_documented_construction():
    now = int(time.time())
    assert stripe.verify([STRIPE_SECRET], STRIPE_BODY, {"stripe-signature": stripe_header(now)}).ok
    # Several v1 signatures (Stripe sends one per secret while rolling); v0 is ignored.
    header = f"{stripe_header(now, 'whsec_other')},v1=bad,v0=zzz"
    header += "," + stripe_header(now).split(",")[1]
    assert stripe.verify([STRIPE_SECRET], STRIPE_BODY, {"stripe-signature": header}).ok


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", "missing"),
        ("garbage", "malformed"),
        ("t=notanumber,v1=abc", "malformed"),
        ("v1=abc", "malformed"),
        ("t=123", "malformed"),
    ],
)
def test_stripe_refusals(header, expected):
    headers = {"stripe-signature": header} if header else {}
    assert stripe.verify([STRIPE_SECRET], STRIPE_BODY, headers).signature == expected


def test_stripe_tolerance_and_scheme():
    now = int(time.time())
    assert (
        stripe.verify(
            [STRIPE_SECRET], STRIPE_BODY, {"stripe-signature": stripe_header(now - 301)}
        ).signature
        == "stale"
    )
    assert stripe.verify([STRIPE_SECRET], STRIPE_BODY,
                         {"stripe-signature": stripe_header(now, scheme="v0")}).signature \
        == "malformed"  # fmt: skip
    assert (
        stripe.verify(
            ["whsec_other"], STRIPE_BODY, {"stripe-signature": stripe_header(now)}
        ).signature
        == "invalid"
    )


# --- Shopify: base64 HMAC-SHA256 of the raw body, checked against openssl's digest --------

SHOPIFY_SECRET = "hush"
SHOPIFY_BODY = b'{"id":820982911946154508,"email":"jon@example.com","total_price":"254.98"}'


def test_shopify_matches_an_independent_openssl_digest():
    """Shopify publishes the construction, not a vector: openssl computes one here."""
    digest = subprocess.run(
        ["openssl", "dgst", "-sha256", "-hmac", SHOPIFY_SECRET, "-binary"],
        input=SHOPIFY_BODY, capture_output=True, check=True,
    ).stdout  # fmt: skip
    header = base64.b64encode(digest).decode()
    assert shopify.verify([SHOPIFY_SECRET], SHOPIFY_BODY, {"x-shopify-hmac-sha256": header}).ok
    assert shopify.verify(["old", SHOPIFY_SECRET], SHOPIFY_BODY,
                          {"x-shopify-hmac-sha256": header}).ok  # fmt: skip


@pytest.mark.parametrize(
    ("header", "expected"),
    [("", "missing"), ("%%%", "malformed"), (base64.b64encode(b"x" * 32).decode(), "invalid")],
)
def test_shopify_refusals(header, expected):
    headers = {"x-shopify-hmac-sha256": header} if header else {}
    assert shopify.verify([SHOPIFY_SECRET], SHOPIFY_BODY, headers).signature == expected


# --- The independent senders agree with the documents' vectors -----------------------------


def test_the_test_senders_reproduce_the_vectors():
    assert webhooks.standard_headers(secret=SW_SECRET, body=SW_BODY, msg_id=SW_ID,
                                     timestamp=SW_TIMESTAMP)["webhook-signature"] \
        == SW_SIGNATURE  # fmt: skip
    assert (
        webhooks.tiktok_shop_headers(app_key="abcdef", app_secret="123", body=TTS_BODY)[
            "Authorization"
        ]
        == TTS_SIGNATURE
    )
    assert webhooks.stripe_headers(secrets=STRIPE_SECRET, body=STRIPE_BODY, timestamp=5)[
        "Stripe-Signature"] == stripe_header(5)  # fmt: skip
