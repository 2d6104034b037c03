"""Every write to connections: grants, account choice, tokens, settings, field rules, sync
requests, disconnecting, webhooks received, listings marked dirty.

A connection's status moves only through `ALLOWED`. Each move locks the row, checks the move
(an invalid one raises ApplicationError `invalid_transition`) and writes a ConnectionEvent in
the same transaction. Refreshing a token locks the row too: one refresh at a time per
connection, and a caller that waited finds the new token instead of refreshing again, so a
rotating refresh token is never used twice.

Tokens are never logged, never put in an error message and never returned by the API.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Product
from core.errors import ApplicationError
from core.jobs import enqueue_on_commit
from integrations import platform_settings
from integrations.clients import AccountChoice, Grant, app_for
from integrations.clients import shopify as shopify_client
from integrations.http import AuthError, GrantError, PlatformError, PlatformSession
from integrations.models import (
    DESTINATIONS,
    Connection,
    ConnectionEvent,
    ExternalProduct,
    ExternalVariant,
    FieldRule,
    Listing,
    Platform,
    SyncRun,
    WebhookDelivery,
)
from integrations.signing import shopify_webhook_valid

logger = logging.getLogger(__name__)

Status = Connection.Status

# The connection state machine: (current status, action) -> new status. Nothing else moves.
ALLOWED: dict[tuple[str, str], str] = {
    (Status.PENDING, "activate"): Status.ACTIVE,  # the account was chosen
    (Status.ACTIVE, "reconnect"): Status.ACTIVE,  # a new grant (more scopes, new token)
    (Status.NEEDS_RECONNECT, "reconnect"): Status.ACTIVE,
    (Status.ACTIVE, "needs_reconnect"): Status.NEEDS_RECONNECT,  # grant revoked or expired
    (Status.PENDING, "disconnect"): Status.DISCONNECTED,
    (Status.ACTIVE, "disconnect"): Status.DISCONNECTED,
    (Status.NEEDS_RECONNECT, "disconnect"): Status.DISCONNECTED,
}

# Refresh a token this long before it expires.
REFRESH_MARGIN = timedelta(minutes=5)


# ---------------------------------------------------------------------------------------
# The state machine
# ---------------------------------------------------------------------------------------


def _lock(connection_id: int) -> Connection:
    try:
        return Connection.objects.select_for_update().get(pk=connection_id)
    except Connection.DoesNotExist:
        raise ApplicationError(
            f"Connection #{connection_id} does not exist.", code="not_found"
        ) from None


def _target(connection: Connection, action: str) -> str:
    to_status = ALLOWED.get((connection.status, action))
    if to_status is None:
        raise ApplicationError(
            f"Cannot {action.replace('_', ' ')} connection #{connection.pk}: "
            f"it is {connection.get_status_display().lower()}.",
            code="invalid_transition",
        )
    return to_status


def _event(connection, *, action: str, actor, from_status: str, reason: str = ""):
    return ConnectionEvent.objects.create(
        connection=connection,
        actor=actor,
        at=timezone.now(),
        action=action,
        from_status=from_status,
        to_status=connection.status,
        reason=reason,
    )


def _apply(connection: Connection, action: str, *, actor=None, reason: str = "") -> Connection:
    """Move a locked connection along `action`, save it and audit the move."""
    from_status = connection.status
    connection.status = _target(connection, action)
    connection.status_reason = reason if connection.status == Status.NEEDS_RECONNECT else ""
    connection.save()
    _event(connection, action=action, actor=actor, from_status=from_status, reason=reason)
    logger.info(
        "integrations.connection.transition",
        extra={
            "connection_id": connection.pk,
            "action": action,
            "from": from_status,
            "to": connection.status,
        },
    )
    return connection


def _set_grant(connection: Connection, grant: Grant) -> None:
    connection.access_token = grant.access_token
    if grant.refresh_token:
        connection.refresh_token = grant.refresh_token
    connection.access_token_expires_at = grant.access_expires_at
    connection.refresh_token_expires_at = grant.refresh_expires_at
    if grant.scopes:
        connection.scopes = sorted(set(grant.scopes))
    connection.token_version += 1


def _after_activation(connection: Connection) -> None:
    """What a newly usable connection starts: an import and webhooks, or a first push."""
    from integrations import tasks

    if connection.platform == Platform.SHOPIFY:
        FieldRule.objects.bulk_create(
            [FieldRule(connection=connection, field=f) for f in FieldRule.Field.values],
            ignore_conflicts=True,
        )
        enqueue_on_commit(tasks.shopify_register_webhooks, connection.pk)
        enqueue_on_commit(tasks.shopify_import, connection.pk)
    elif connection.platform in DESTINATIONS:
        _mark_dirty(connection_ids=[connection.pk], product_ids=None)
        enqueue_on_commit(tasks.connection_push, connection.pk)
    if connection.platform == Platform.TIKTOK_SHOP:
        from integrations.channel_credentials import deliveries_resume

        deliveries_resume(connection=connection)  # orders that waited for this connection


# ---------------------------------------------------------------------------------------
# Connecting
# ---------------------------------------------------------------------------------------


def connection_connect(
    *,
    platform: str,
    grant: Grant,
    choices: list[AccountChoice],
    actor,
    auth_method: str = Connection.AuthMethod.OAUTH,
    connection_id: int | None = None,
    app_secret: str = "",
) -> Connection:
    """Store a new grant: a new connection, or a reconnection of `connection_id`.

    With one account in `choices` the connection is active at once; with several it waits
    for the merchant to choose (`connection_choose_account`). An account that is already
    connected is reconnected rather than connected twice.
    """
    if platform not in Platform.values:
        raise ApplicationError(f"Unknown platform {platform!r}.", fields={"platform": ["Unknown."]})
    if not choices:
        raise ApplicationError(
            f"This {Platform(platform).label} login gives access to no account Shoploop can use.",
            code="no_account",
        )
    with transaction.atomic(durable=True):
        if connection_id is None and len(choices) == 1:
            existing = (
                Connection.objects.filter(platform=platform, account_id=choices[0].account_id)
                .exclude(status=Status.DISCONNECTED)
                .first()
            )
            connection_id = existing.pk if existing else None
        if connection_id is not None:
            connection = _lock(connection_id)
            if connection.platform != platform:
                raise ApplicationError("This grant is for another platform.", code="invalid")
            wanted = next((c for c in choices if c.account_id == connection.account_id), None)
            if wanted is None:
                name = connection.account_name or connection.account_id
                raise ApplicationError(
                    f"This login does not give access to {name}; "
                    "log in with the account that connected it.",
                    code="wrong_account",
                )
            _set_grant(connection, grant)
            connection.auth_method = auth_method
            if app_secret:
                connection.app_secret = app_secret
            connection.settings = {**wanted.settings, **connection.settings, **_fresh(wanted)}
            connection.account_name = wanted.name or connection.account_name
            was = connection.status
            _apply(connection, "reconnect", actor=actor, reason="New grant from the platform.")
            if was == Status.NEEDS_RECONNECT:
                _after_activation(connection)
            return connection
        connection = Connection(
            platform=platform,
            auth_method=auth_method,
            created_by=actor,
            app_secret=app_secret,
            account_choices=[
                {"account_id": c.account_id, "name": c.name, "settings": c.settings}
                for c in choices
            ],
        )
        _set_grant(connection, grant)
        connection.save()
        _event(connection, action="grant", actor=actor, from_status="", reason="Authorized.")
        if len(choices) == 1:
            _choose(connection, choices[0], actor=actor)
    return connection


def _fresh(choice: AccountChoice) -> dict:
    """Settings the platform owns (a TikTok shop's cipher): always the latest."""
    return {k: v for k, v in choice.settings.items() if k in ("shop_cipher", "region")}


def _choose(connection: Connection, choice: AccountChoice, *, actor) -> None:
    taken = (
        Connection.objects.filter(platform=connection.platform, account_id=choice.account_id)
        .exclude(status=Status.DISCONNECTED)
        .exclude(pk=connection.pk)
        .exists()
    )
    if taken:
        raise ApplicationError(
            f"{choice.name} is already connected; reconnect that connection instead.",
            code="conflict",
            fields={"account_id": ["Already connected."]},
        )
    connection.account_id = choice.account_id
    connection.account_name = choice.name
    connection.settings = {
        **platform_settings.defaults(connection.platform, choice.settings),
        **connection.settings,
    }
    connection.account_choices = []
    _apply(connection, "activate", actor=actor, reason=f"Account {choice.name} chosen.")
    _after_activation(connection)


def connection_choose_account(*, connection_id: int, account_id: str, actor) -> Connection:
    """Pick the account of a pending connection among those its grant covers."""
    with transaction.atomic(durable=True):
        connection = _lock(connection_id)
        _target(connection, "activate")
        choice = next(
            (c for c in connection.account_choices if c["account_id"] == str(account_id)), None
        )
        if choice is None:
            raise ApplicationError(
                "Choose one of the accounts this login gives access to.",
                fields={"account_id": ["Not one of the accounts of this login."]},
            )
        _choose(connection, AccountChoice(**choice), actor=actor)
    return connection


def connection_connect_shopify_token(
    *, shop: str, access_token: str, app_secret: str, actor
) -> Connection:
    """Connect a Shopify custom app from its Admin API access token (pasted in the console).

    The token is checked with Shopify (shop name and granted scopes) before anything is stored.
    """
    errors = {}
    domain = shopify_client.normalize_shop(shop)
    if not domain:
        errors["shop"] = ["Enter the shop's myshopify.com domain, e.g. acme.myshopify.com."]
    if not access_token.strip():
        errors["access_token"] = ["Paste the Admin API access token of the custom app."]
    if not app_secret.strip():
        errors["app_secret"] = [
            "Paste the custom app's API secret key: Shopify signs its webhooks with it."
        ]
    if errors:
        raise ApplicationError("; ".join(m for ms in errors.values() for m in ms), fields=errors)
    session = PlatformSession(platform=Platform.SHOPIFY, account=domain)
    try:
        info = shopify_client.shop_info(session, shop=domain, token=access_token.strip())
    except AuthError:
        raise ApplicationError(
            "Shopify refused this access token.",
            fields={"access_token": ["Shopify refused this access token."]},
        ) from None
    except PlatformError as exc:
        raise ApplicationError(f"Shopify could not be reached: {exc.message}") from None
    missing = sorted(set(settings.SHOPIFY_SCOPES) - set(info["scopes"]))
    if missing:
        raise ApplicationError(
            f"The custom app lacks the Admin API scopes {', '.join(missing)}.",
            fields={"access_token": [f"Give the app these scopes: {', '.join(missing)}."]},
        )
    return connection_connect(
        platform=Platform.SHOPIFY,
        grant=Grant(access_token=access_token.strip(), scopes=info["scopes"]),
        choices=[AccountChoice(account_id=domain, name=info["name"], settings=info["settings"])],
        actor=actor,
        auth_method=Connection.AuthMethod.PASTED_TOKEN,
        app_secret=app_secret.strip(),
    )


# ---------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------


def token_expiring(connection: Connection) -> bool:
    expires = connection.access_token_expires_at
    return expires is not None and expires <= timezone.now() + REFRESH_MARGIN


@dataclass
class _Outcome:
    connection: Connection
    reconnect_reason: str = ""


def connection_refresh_token(*, connection_id: int, seen_version: int, force: bool = False):
    """Refresh the access token, once, while other callers wait on the row lock.

    `seen_version` is the token version the caller holds: if the row already has a newer
    one, another caller refreshed while this one waited, and that token is returned as it
    is (so a rotating refresh token is never sent twice). `force` refreshes a token that has
    not expired (the platform refused it). A refused grant marks the connection "needs
    reconnecting" and raises ApplicationError `needs_reconnect`; a transient failure changes
    nothing and raises PlatformError.
    """
    outcome = None
    with transaction.atomic(durable=True):
        connection = _lock(connection_id)
        if connection.status != Status.ACTIVE:
            raise ApplicationError(
                f"{connection} is {connection.get_status_display().lower()}.",
                code="needs_reconnect",
            )
        if connection.token_version != seen_version or not (force or token_expiring(connection)):
            return connection
        if not connection.refresh_token:
            outcome = _Outcome(connection, "The access token expired and cannot be refreshed.")
            _apply(connection, "needs_reconnect", reason=outcome.reconnect_reason)
        else:
            session = PlatformSession(platform=connection.platform, account=connection.account_id)
            try:
                grant = app_for(connection.platform).refresh(session, connection.refresh_token)
            except GrantError as exc:
                outcome = _Outcome(connection, f"The platform refused the refresh: {exc.message}")
                _apply(connection, "needs_reconnect", reason=outcome.reconnect_reason)
            else:
                _set_grant(connection, grant)
                connection.last_call_at = timezone.now()
                connection.save()
                logger.info(
                    "integrations.token.refreshed",
                    extra={"connection_id": connection.pk, "version": connection.token_version},
                )
    if outcome is not None:
        raise ApplicationError(
            f"{connection} needs reconnecting: {outcome.reconnect_reason}", code="needs_reconnect"
        )
    return connection


def connection_mark_needs_reconnect(*, connection_id: int, reason: str) -> Connection:
    with transaction.atomic(durable=True):
        connection = _lock(connection_id)
        if connection.status == Status.NEEDS_RECONNECT:
            return connection
        return _apply(connection, "needs_reconnect", reason=reason)


def connection_record_calls(*, connection_id: int, ok_at=None, error: str = "") -> None:
    """Remember the last successful call and the last error (shown in the console)."""
    fields = {}
    if ok_at is not None:
        fields["last_call_at"] = ok_at
    if error:
        fields["last_error"] = error[:2000]
        fields["last_error_at"] = timezone.now()
    if fields:
        Connection.objects.filter(pk=connection_id).update(**fields)


# ---------------------------------------------------------------------------------------
# Settings, rules, sync requests, disconnecting
# ---------------------------------------------------------------------------------------


def connection_update_settings(*, connection_id: int, values: dict, actor=None) -> Connection:
    """Validate and store a connection's platform settings (the console form)."""
    with transaction.atomic(durable=True):
        connection = _lock(connection_id)
        cleaned = platform_settings.clean(connection.platform, values)
        connection.settings = {**connection.settings, **cleaned}
        connection.save(update_fields=["settings", "updated_at"])
        if connection.platform in DESTINATIONS and connection.status == Status.ACTIVE:
            _mark_dirty(connection_ids=[connection.pk], product_ids=None)
    return connection


def connection_store_platform_settings(*, connection_id: int, values: dict) -> None:
    """Settings learnt from the platform itself (a default warehouse, a data source)."""
    with transaction.atomic():
        connection = _lock(connection_id)
        connection.settings = {**connection.settings, **values}
        connection.save(update_fields=["settings", "updated_at"])


def connection_set_field_rules(*, connection_id: int, owners: dict[str, str], actor=None):
    errors = {}
    for field, owner in owners.items():
        if field not in FieldRule.Field.values:
            errors[field] = ["Not a field Shopify sends."]
        elif owner not in FieldRule.Owner.values:
            errors[field] = ["The owner is shopify or shoploop."]
    if errors:
        raise ApplicationError("Invalid field rules.", fields=errors)
    with transaction.atomic(durable=True):
        connection = _lock(connection_id)
        if connection.platform != Platform.SHOPIFY:
            raise ApplicationError("Field rules apply to Shopify connections only.")
        for field, owner in owners.items():
            FieldRule.objects.update_or_create(
                connection=connection, field=field, defaults={"owner": owner}
            )


def connection_sync_now(*, connection_id: int, actor=None) -> str:
    """Ask for a sync at once: a full import (Shopify) or every product checked and pushed."""
    from integrations import tasks

    with transaction.atomic(durable=True):
        connection = _lock(connection_id)
        if connection.status != Status.ACTIVE:
            raise ApplicationError(
                f"{connection} is {connection.get_status_display().lower()}; "
                "reconnect it before syncing.",
                code="invalid_transition",
            )
        if connection.platform == Platform.TIKTOK:
            raise ApplicationError(
                f"{connection} has no catalog to sync: its videos are pulled by its sources "
                "(Integrations › Social sources › Pull now).",
                code="invalid",
            )
        if connection.platform == Platform.SHOPIFY:
            enqueue_on_commit(tasks.shopify_import, connection.pk)
            return "import"
        _mark_dirty(connection_ids=[connection.pk], product_ids=None, retry_now=True)
        enqueue_on_commit(tasks.connection_push, connection.pk)
    logger.info("integrations.sync_now", extra={"connection_id": connection_id})
    return "push"


def connection_disconnect(*, connection_id: int, actor=None) -> Connection:
    """Revoke the grant at the platform where it has an endpoint, then forget the tokens."""
    connection = Connection.objects.filter(pk=connection_id).first()
    if connection is None:
        raise ApplicationError(f"Connection #{connection_id} does not exist.", code="not_found")
    _target(connection, "disconnect")
    note = _revoke(connection)
    with transaction.atomic(durable=True):
        connection = _lock(connection_id)
        _forget_tokens(connection)
        _apply(connection, "disconnect", actor=actor, reason=note)
    return connection


def _forget_tokens(connection: Connection) -> None:
    connection.access_token = ""
    connection.refresh_token = ""
    connection.app_secret = ""
    connection.access_token_expires_at = None
    connection.refresh_token_expires_at = None
    connection.token_version += 1


def _shop_connections(shop_domain: str) -> list[int]:
    return list(
        Connection.objects.filter(platform=Platform.SHOPIFY, account_id=shop_domain)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def connection_uninstalled(*, shop_domain: str) -> list[int]:
    """Shopify's `app/uninstalled`: the shop removed the app, so its tokens are dead. The
    connection is disconnected at once (nothing to revoke) and its tokens forgotten; the
    rest of its data is erased by `shop/redact`, which Shopify sends 48 hours later."""
    done = []
    with transaction.atomic(durable=True):
        for connection_id in _shop_connections(shop_domain):
            connection = _lock(connection_id)
            if connection.status == Status.DISCONNECTED:
                continue
            _forget_tokens(connection)
            _apply(connection, "disconnect", reason="Shopify: the app was uninstalled.")
            done.append(connection.pk)
    return done


def connections_erase_shop(*, shop_domain: str, reason: str) -> dict:
    """Shopify's `shop/redact` (48 hours after the app was uninstalled): erase what the
    shop's connections hold. Each is disconnected if it was not, its tokens, secret, scopes,
    settings, name and errors are cleared, and its Shopify mappings, field rules, catalog
    webhooks and runs are deleted; the audit stays. Products imported into the catalog are
    the merchant's own and stay. Idempotent."""
    counts = {"connections": 0, "mappings": 0, "webhooks": 0}
    with transaction.atomic():
        for connection_id in _shop_connections(shop_domain):
            connection = _lock(connection_id)
            if connection.status != Status.DISCONNECTED:
                _forget_tokens(connection)
                _apply(connection, "disconnect", reason="Shopify: shop data erasure requested.")
            connection.refresh_token = connection.access_token = connection.app_secret = ""
            connection.scopes, connection.settings, connection.account_choices = [], {}, []
            connection.account_name = connection.status_reason = connection.last_error = ""
            connection.last_error_at = None
            connection.save()
            counts["connections"] += 1
            counts["mappings"] += ExternalVariant.objects.filter(connection=connection).delete()[0]
            counts["mappings"] += ExternalProduct.objects.filter(connection=connection).delete()[0]
            counts["webhooks"] += WebhookDelivery.objects.filter(connection=connection).delete()[0]
            FieldRule.objects.filter(connection=connection).delete()
            SyncRun.objects.filter(connection=connection).delete()
            _event(connection, action="erase", actor=None, from_status=connection.status,
                   reason=reason)  # fmt: skip
    logger.info("integrations.shop_erased", extra=counts)
    return counts


def _revoke(connection: Connection) -> str:
    if not connection.access_token or connection.status == Status.PENDING:
        return "Disconnected before an account was chosen."
    session = PlatformSession(platform=connection.platform, account=connection.account_id)
    notes = []
    try:
        if connection.platform == Platform.SHOPIFY:
            for sub_id in connection.settings.get("webhook_subscriptions", []):
                shopify_client.webhook_unsubscribe(
                    session,
                    shop=connection.account_id,
                    token=connection.access_token,
                    subscription_id=sub_id,
                )
            notes.append("Webhook subscriptions deleted.")
            if connection.auth_method == Connection.AuthMethod.PASTED_TOKEN:
                notes.append("Uninstall the custom app in Shopify's admin to revoke its token.")
                return " ".join(notes)
        revoked = app_for(connection.platform).revoke(
            session,
            token=connection.access_token,
            account_id=connection.account_id,
            app_settings=connection.settings,
        )
        notes.append(
            "The grant was revoked at the platform."
            if revoked
            else "The platform has no revocation endpoint: remove the app in its seller center."
        )
    except PlatformError as exc:
        notes.append(f"Revoking at the platform failed ({exc.message}); the tokens are forgotten.")
    return " ".join(notes)


# ---------------------------------------------------------------------------------------
# Listings
# ---------------------------------------------------------------------------------------


def listing_set_category(*, listing_id: int, category: str, actor=None) -> Listing:
    """The destination's category for one product (else the connection's default)."""
    category = (category or "").strip()
    if len(category) > 100:
        raise ApplicationError(
            "A category is at most 100 characters.", fields={"category": ["Too long."]}
        )
    with transaction.atomic():  # the console's change form already runs in a transaction
        listing = Listing.objects.select_for_update().filter(pk=listing_id).first()
        if listing is None:
            raise ApplicationError(f"Listing #{listing_id} does not exist.", code="not_found")
        if listing.category != category:
            listing.category = category
            listing.dirty = True
            listing.version += 1
            listing.next_attempt_at = timezone.now()
            listing.save()
    return listing


def product_ref(product_id: int) -> str:
    """The id a product goes by at every destination (its item group and offer prefix)."""
    return f"shoploop-{product_id}"


def listings_mark_dirty(*, product_ids: list[int]) -> int:
    """Products changed: each active destination must compare them with what it accepted."""
    connection_ids = list(
        Connection.objects.filter(platform__in=DESTINATIONS, status=Status.ACTIVE).values_list(
            "pk", flat=True
        )
    )
    if not connection_ids or not product_ids:
        return 0
    with transaction.atomic():
        return _mark_dirty(connection_ids=connection_ids, product_ids=product_ids)


def _mark_dirty(*, connection_ids, product_ids, retry_now: bool = False) -> int:
    """Insert missing listings, then flag all of them dirty with a new version.

    `product_ids=None` means every product (a new connection, sync now, new settings).
    """
    from django.db.models import F

    products = Product.objects.all()
    if product_ids is not None:
        products = products.filter(pk__in=product_ids)
    ids = list(products.values_list("pk", flat=True))
    now = timezone.now()
    for connection_id in connection_ids:
        Listing.objects.bulk_create(
            [
                Listing(
                    connection_id=connection_id,
                    product_id=pk,
                    product_ref=product_ref(pk),
                    next_attempt_at=now,
                )
                for pk in ids
            ],
            ignore_conflicts=True,
            batch_size=1000,
        )
    listings = Listing.objects.filter(connection_id__in=connection_ids)
    if product_ids is not None:
        listings = listings.filter(product_id__in=ids)
    update = {"dirty": True, "version": F("version") + 1}
    if retry_now:
        update.update(next_attempt_at=now, attempts=0)
    else:
        # A changed product is due now, unless it is waiting out a failure's backoff.
        listings.filter(next_attempt_at__isnull=True).update(next_attempt_at=now)
    return listings.update(**update)


# ---------------------------------------------------------------------------------------
# Webhooks
# ---------------------------------------------------------------------------------------


@dataclass
class WebhookOutcome:
    status: int
    message: str
    delivery_id: int | None = None


def shopify_webhook_receive(
    *, shop: str, topic: str, webhook_id: str, body: bytes, hmac_header: str
) -> WebhookOutcome:
    """Verify a Shopify webhook, store it once and queue its processing.

    The HMAC is checked over the raw body with the connection's secret (a custom app's API
    secret, else SHOPIFY_API_SECRET) before anything is parsed or stored. A redelivery (same
    `X-Shopify-Webhook-Id`) is acknowledged and changes nothing.
    """
    import json

    from integrations import tasks

    domain = shopify_client.normalize_shop(shop)
    connection = (
        Connection.objects.filter(platform=Platform.SHOPIFY, account_id=domain)
        .exclude(status=Status.DISCONNECTED)
        .first()
        if domain
        else None
    )
    if connection is None:
        return WebhookOutcome(404, "unknown shop")
    secret = connection.app_secret or settings.SHOPIFY_API_SECRET
    if not shopify_webhook_valid(secret, body, hmac_header):
        logger.warning("integrations.webhook.bad_hmac", extra={"connection_id": connection.pk})
        return WebhookOutcome(401, "invalid hmac")
    if not webhook_id:
        return WebhookOutcome(400, "missing X-Shopify-Webhook-Id")
    try:
        payload = json.loads(body)
    except ValueError:
        return WebhookOutcome(400, "body is not JSON")
    try:
        with transaction.atomic(durable=True):
            delivery = WebhookDelivery.objects.create(
                connection=connection, topic=topic, webhook_id=webhook_id, payload=payload
            )
            enqueue_on_commit(tasks.shopify_webhook_apply, delivery.pk)
    except IntegrityError:
        return WebhookOutcome(200, "already received")
    return WebhookOutcome(200, "queued", delivery.pk)
