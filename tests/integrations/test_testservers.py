"""The local platform servers catch the mistakes the real platforms would refuse."""

import json
import time

import requests

from integrations.signing import tiktok_shop_sign
from testservers import google, meta, shopify, tiktok_shop

SHOP = "acme.myshopify.com"


def test_tiktok_refuses_bad_signatures_stale_timestamps_and_reused_refresh_tokens():
    with tiktok_shop.Server() as server:
        code = "c1"
        server.codes[code] = server.shop["seller"]
        tokens = requests.get(
            f"{server.url}/api/v2/token/get",
            params={
                "app_key": server.app_key,
                "app_secret": server.app_secret,
                "auth_code": code,
                "grant_type": "authorized_code",
            },
            timeout=5,
        ).json()["data"]
        assert tokens["access_token_expire_in"] > time.time()  # a Unix timestamp
        path = "/authorization/202309/shops"
        params = {"app_key": server.app_key, "timestamp": str(int(time.time()))}
        headers = {"x-tts-access-token": tokens["access_token"]}
        good = dict(
            params, sign=tiktok_shop_sign(app_secret=server.app_secret, path=path, params=params)
        )
        assert (
            requests.get(server.url + path, params=good, headers=headers, timeout=5).json()["code"]
            == 0
        )
        bad = dict(good, sign="0" * 64)
        answer = requests.get(server.url + path, params=bad, headers=headers, timeout=5)
        assert (answer.status_code, answer.json()["code"]) == (401, 106001)
        stale = {"app_key": server.app_key, "timestamp": str(int(time.time()) - 3600)}
        stale["sign"] = tiktok_shop_sign(app_secret=server.app_secret, path=path, params=stale)
        answer = requests.get(server.url + path, params=stale, headers=headers, timeout=5)
        assert answer.json()["code"] == 106003
        refresh = {
            "app_key": server.app_key,
            "app_secret": server.app_secret,
            "refresh_token": tokens["refresh_token"],
            "grant_type": "refresh_token",
        }
        first = requests.get(f"{server.url}/api/v2/token/refresh", params=refresh, timeout=5).json()
        assert first["code"] == 0 and first["data"]["refresh_token"] != tokens["refresh_token"]
        again = requests.get(f"{server.url}/api/v2/token/refresh", params=refresh, timeout=5).json()
        assert again["code"] == 36004004 and server.refresh_reuses == 1


def test_meta_wants_appsecret_proof_and_the_pkce_verifier():
    with meta.Server() as server:
        token = server._issue("catalog_management", 3600, long=True)["access_token"]  # noqa: SLF001
        url = f"{server.url}/v21.0/me/permissions"
        answer = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert answer.json()["error"]["message"].startswith("Invalid appsecret_proof")
        page = requests.get(
            f"{server.url}/v21.0/dialog/oauth",
            params={
                "client_id": server.app_id,
                "redirect_uri": "https://x/cb",
                "state": "s",
                "code_challenge": "abc",
                "code_challenge_method": "plain",
            },
            timeout=5,
        )
        assert page.status_code == 400


def test_meta_batch_checks_required_fields_per_item():
    with meta.Server() as server:
        import hashlib
        import hmac

        token = server._issue("catalog_management", 3600, long=True)["access_token"]  # noqa: SLF001
        proof = hmac.new(server.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
        items = [
            {
                "method": "UPDATE",
                "data": {
                    "id": "A",
                    "title": "T",
                    "description": "D",
                    "availability": "in stock",
                    "condition": "new",
                    "price": "9.99",
                    "link": "https://x",
                    "image_link": "https://x/i.jpg",
                    "brand": "B",
                },
            },
        ]
        answer = requests.post(
            f"{server.url}/v21.0/{server.catalog_id}/items_batch",
            headers={"Authorization": f"Bearer {token}"},
            data={
                "item_type": "PRODUCT_ITEM",
                "requests": json.dumps(items),
                "appsecret_proof": proof,
            },
            timeout=5,
        ).json()
        [status] = answer["validation_status"]
        assert status["errors"] == [{"message": "price must look like '9.99 USD'"}]


def test_google_answers_each_batch_part_on_its_own():
    with google.Server() as server:
        token = server._access({"scope": google.SCOPE})["access_token"]  # noqa: SLF001
        from integrations.clients.google import parse_batch_response

        boundary = "b1"
        good = {
            "offerId": "A",
            "contentLanguage": "en",
            "feedLabel": "US",
            "productAttributes": {
                "title": "T",
                "link": "https://x",
                "imageLink": "https://x/i.jpg",
                "availability": "IN_STOCK",
                "price": {"amountMicros": "1000000", "currencyCode": "USD"},
                "brand": "B",
            },
        }
        bad = {"offerId": "B", "contentLanguage": "en", "feedLabel": "US", "productAttributes": {}}
        path = (
            "/products/v1/accounts/123456789/productInputs:insert"
            "?dataSource=accounts/123456789/dataSources/1"
        )
        body = (
            "".join(
                f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item{i}>\r\n\r\n"
                f"POST {path} HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
                f"{json.dumps(item)}\r\n"
                for i, item in enumerate([good, bad])
            )
            + f"--{boundary}--\r\n"
        )
        answer = requests.post(
            f"{server.url}/batch/products/v1",
            data=body.encode(),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": f"multipart/mixed; boundary={boundary}",
            },
            timeout=5,
        )
        results = parse_batch_response(answer.headers["Content-Type"], answer.content, 2)
        assert results[0][0] == 200 and results[0][1]["offerId"] == "A"
        assert results[1][0] == 400 and "Missing value [title]" in results[1][1]["error"]["message"]
        plain = requests.post(
            f"{server.url}/batch/products/v1",
            json={},
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        assert plain.status_code == 400
        assert plain.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_shopify_throttles_graphql_with_its_cost_shape_and_codes_work_once():
    with shopify.Server() as server:
        server.add_shop(SHOP)
        server.add_custom_app(SHOP, token="t", secret="s")
        server.bucket_size, server.restore_rate = 10.0, 0.001
        url = f"{server.url}/{SHOP}/admin/api/2025-01/graphql.json"
        ask = {"query": "{ shop { name } }"}
        assert (
            "data"
            in requests.post(
                url, json=ask, headers={"X-Shopify-Access-Token": "t"}, timeout=5
            ).json()
        )
        throttled = requests.post(
            url, json=ask, headers={"X-Shopify-Access-Token": "t"}, timeout=5
        ).json()
        assert throttled["errors"][0]["extensions"]["code"] == "THROTTLED"
        assert throttled["extensions"]["cost"]["throttleStatus"]["restoreRate"] == 0.001
        unauthorized = requests.post(
            url, json=ask, headers={"X-Shopify-Access-Token": "x"}, timeout=5
        )
        assert unauthorized.status_code == 401
        assert "Invalid API key or access token" in unauthorized.json()["errors"]
