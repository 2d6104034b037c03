"""The Stripe test server speaks Stripe's Checkout Sessions API: auth, errors, idempotency."""

import requests

from testservers.stripe import Server


def create(server, key="idem-1", auth="Bearer sk_test_shoploop", **extra):
    data = {"mode": "payment", "success_url": "https://shop.example.com/done",
            "line_items[0][price_data][currency]": "usd",
            "line_items[0][price_data][unit_amount]": "1999",
            "line_items[0][quantity]": "2", **extra}  # fmt: skip
    headers = {"Idempotency-Key": key}
    if auth:
        headers["Authorization"] = auth
    return requests.post(f"{server.url}/v1/checkout/sessions", data=data, headers=headers,
                         timeout=5)  # fmt: skip


def test_sessions_auth_errors_and_idempotency():
    with Server(api_key="sk_test_shoploop") as server:
        first = create(server)
        assert first.status_code == 200
        session = first.json()
        assert session["id"].startswith("cs_test_") and session["amount_total"] == 3998
        assert session["url"].endswith(f"/c/pay/{session['id']}")
        assert create(server).json()["id"] == session["id"]  # same key, same parameters
        conflict = create(server, **{"line_items[0][quantity]": "3"})
        assert conflict.status_code == 400
        assert conflict.json()["error"]["type"] == "idempotency_error"
        missing = create(server, key="idem-2", auth="")
        assert missing.status_code == 401 and "API key" in missing.json()["error"]["message"]
        wrong = create(server, key="idem-3", auth="Bearer sk_test_wrong")
        assert wrong.status_code == 401
        no_mode = requests.post(
            f"{server.url}/v1/checkout/sessions",
            data={"success_url": "x"},
            headers={"Authorization": "Bearer sk_test_shoploop"},
            timeout=5,
        )
        assert no_mode.json()["error"]["code"] == "parameter_missing"
        assert no_mode.json()["error"]["param"] == "mode"
        unknown = requests.get(f"{server.url}/v1/checkout/sessions/cs_nope", timeout=5,
                               headers={"Authorization": "Bearer sk_test_shoploop"})  # fmt: skip
        assert unknown.status_code == 404
