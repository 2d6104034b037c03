"""Signatures: TikTok Shop's documented example, Shopify's webhook and OAuth HMACs."""

import base64
import hashlib
import hmac

from integrations.signing import (
    shopify_oauth_hmac,
    shopify_oauth_valid,
    shopify_webhook_hmac,
    shopify_webhook_valid,
    tiktok_shop_sign,
)


def test_tiktok_shop_sign_matches_the_documented_example():
    # "Sign your API request" (TikTok Shop Partner Center): app_secret e59af819cc, path
    # /authorization/202309/shops, app_key 29a39d, timestamp 1623812664.
    sign = tiktok_shop_sign(
        app_secret="e59af819cc",
        path="/authorization/202309/shops",
        params={"app_key": "29a39d", "timestamp": "1623812664"},
    )
    assert sign == "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"


def test_tiktok_shop_sign_leaves_out_sign_and_access_token_and_appends_the_body():
    params = {
        "timestamp": "1696909648",
        "shop_cipher": "ROW_xkMbgAAAeVAQra0eZWebFQq5aIK",
        "app_key": "68xu9ks5p4i8",
        "sign": "ignored",
        "access_token": "ignored",
    }
    body = b'{"address":"https://partner.tiktokshop.com","event_type":"PACKAGE_UPDATE"}'
    # The documented base string of the Update Shop Webhook example, wrapped in the secret.
    base = (
        "/event/202309/webhooksapp_key68xu9ks5p4i8shop_cipherROW_xkMbgAAAeVAQra0eZWebFQq5aIK"
        'timestamp1696909648{"address":"https://partner.tiktokshop.com",'
        '"event_type":"PACKAGE_UPDATE"}'
    )
    expected = hmac.new(
        b"e59af819cc", f"e59af819cc{base}e59af819cc".encode(), hashlib.sha256
    ).hexdigest()
    assert (
        tiktok_shop_sign(
            app_secret="e59af819cc", path="/event/202309/webhooks", params=params, body=body
        )
        == expected
    )
    # Any change to a signed part changes the signature.
    assert (
        tiktok_shop_sign(
            app_secret="e59af819cc", path="/event/202309/webhooks", params=params, body=body + b" "
        )
        != expected
    )


def test_shopify_webhook_hmac_is_base64_of_the_raw_body():
    body = b'{"id": 1, "title": "Caf\xc3\xa9"}'
    expected = base64.b64encode(hmac.new(b"secret", body, hashlib.sha256).digest()).decode()
    assert shopify_webhook_hmac("secret", body) == expected
    assert shopify_webhook_valid("secret", body, expected)
    assert not shopify_webhook_valid("secret", body + b" ", expected)
    assert not shopify_webhook_valid("other", body, expected)
    assert not shopify_webhook_valid("", body, expected)
    assert not shopify_webhook_valid("secret", body, "")


def test_shopify_oauth_hmac_covers_every_other_parameter_sorted():
    params = {"shop": "acme.myshopify.com", "code": "abc", "state": "s", "timestamp": "1"}
    message = "code=abc&shop=acme.myshopify.com&state=s&timestamp=1"
    expected = hmac.new(b"secret", message.encode(), hashlib.sha256).hexdigest()
    assert shopify_oauth_hmac("secret", params) == expected
    assert shopify_oauth_valid("secret", {**params, "hmac": expected})
    assert not shopify_oauth_valid(
        "secret", {**params, "shop": "evil.myshopify.com", "hmac": expected}
    )
    assert not shopify_oauth_valid("secret", params)
