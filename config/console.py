"""The console's sidebar (django-unfold's SIDEBAR), organised by task, not by app label.

Each item links to an existing console page and carries the permission check that page itself
makes, so the sidebar never shows a link that answers 403 and never hides one a role may use:

- a model's list: its ModelAdmin's `has_view_or_change_permission` (what Django's
  `changelist_view` checks);
- a custom page: the same check its view makes (`ugc_ugcitem_upload`: the admin's
  `has_upload_permission`; the low-stock page: `catalog.view_product`; the dashboard:
  `analytics.view_rollup`).

This module is imported by config/settings.py before the apps are loaded: it must not import
models or admin modules at import time (each check imports what it needs when it runs).
`SIDEBAR` is the navigation Unfold renders; `sidebar_for(request)` is what one user sees.
"""

from django.urls import reverse_lazy


def model_page(label: str):
    """Whether the user may open the list of `app_label.model` (as changelist_view decides)."""

    def check(request) -> bool:
        from django.apps import apps
        from django.contrib import admin

        model_admin = admin.site._registry.get(apps.get_model(label))
        return model_admin is not None and model_admin.has_view_or_change_permission(request)

    check.label = label
    return check


def admin_check(label: str, method: str):
    """A custom page of `label`'s ModelAdmin guarded by one of the admin's own methods."""

    def check(request) -> bool:
        from django.apps import apps
        from django.contrib import admin

        model_admin = admin.site._registry.get(apps.get_model(label))
        return model_admin is not None and bool(getattr(model_admin, method)(request))

    return check


def permission(codename: str):
    """A custom page guarded by one Django permission (`app_label.codename`)."""

    def check(request) -> bool:
        return request.user.is_active and request.user.has_perm(codename)

    return check


_LINKS = []  # every item's link, to mark only the most specific one as where you are


def _active(link):
    """Where you are: the item whose link is the longest prefix of the page's path (the
    upload page is "Upload content", not also "Moderation queue"; an item's change page is
    the queue). The home is active only on itself."""

    def check(request) -> bool:
        target = str(link)
        if target == "/admin/" or not request.path.startswith(target):
            return request.path == target
        longer = [str(o) for o in _LINKS if len(str(o)) > len(target) and str(o) != "/admin/"]
        return not any(request.path.startswith(other) for other in longer)

    return check


def _item(title: str, icon: str, link, check) -> dict:
    _LINKS.append(link)
    return {
        "title": title,
        "icon": icon,
        "link": link,
        "permission": check,
        "active": _active(link),
    }


def _list(title: str, label: str, icon: str) -> dict:
    app_label, model = label.split(".")
    link = reverse_lazy(f"admin:{app_label}_{model}_changelist")
    return _item(title, icon, link, model_page(label))


def _page(title: str, url_name: str, icon: str, check) -> dict:
    return _item(title, icon, reverse_lazy(url_name), check)


# Group title -> items, in the order a merchant works. Pages that fit no group sit in the
# closest one: the dashboard with Sell, social pulls with Content, the ledger's books with
# Money, platform webhooks and login records with Settings.
SIDEBAR = [
    {
        "title": "Sell",
        "items": [
            _page("Dashboard", "admin:index", "monitoring", permission("analytics.view_rollup")),
            _list("Orders", "sales.order", "receipt_long"),
            _list("Lines without a product", "sales.unmappedline", "link_off"),
            _list("Parcels", "sales.fulfilment", "local_shipping"),
            _list("Reservations", "sales.reservation", "shopping_cart_checkout"),
            _list("Reservation throttles", "sales.reservationthrottle", "speed"),
            _list("Stock alerts", "sales.stockalert", "warning"),
            _list("Order webhooks", "sales.webhookdelivery", "webhook"),
            _list("Short links", "links.shortlink", "link"),
            _list("Campaigns", "links.campaign", "campaign"),
            _list("Link previews", "previews.linkpreview", "preview"),
            _list("Attributions", "attribution.attribution", "conversion_path"),
            _list("Attribution revisions", "attribution.attributionrevision", "history"),
            _list("Conversion outbox", "attribution.conversionevent", "outbox"),
        ],
    },
    {
        "title": "Content",
        "items": [
            _list("Moderation queue", "ugc.ugcitem", "rule"),
            _page(
                "Upload content",
                "admin:ugc_ugcitem_upload",
                "upload",
                admin_check("ugc.ugcitem", "has_upload_permission"),
            ),
            _list("Publishing calendar", "ugc.ugcschedule", "calendar_month"),
            _list("Collections", "ugc.ugccollection", "collections"),
            _page(
                "Placements",
                "admin:ugc_ugcmetricdaily_placements",
                "dashboard",
                model_page("ugc.ugcmetricdaily"),
            ),
            _list("Feed metrics", "ugc.ugcmetricdaily", "bar_chart"),
            _list("Moderation events", "ugc.moderationevent", "fact_check"),
            _list("Rejection reasons", "ugc.rejectionreason", "block"),
            _list("Blocklist", "ugc.blocklistentry", "do_not_disturb_on"),
            _list("Rights requests", "ugc.rightsrequest", "copyright"),
            _list("Reviews", "ugc.review", "reviews"),
            _list("Social sources", "integrations.socialsource", "tag"),
            _list("Pulled posts", "integrations.pulledpost", "download"),
            _list("Hashtag searches", "integrations.hashtagsearch", "manage_search"),
            _list("Content licences", "creators.contentlicence", "license"),
        ],
    },
    {
        "title": "Creators",
        "items": [
            _list("Creators", "creators.creator", "person"),
            _list("Applications", "creators.creatorapplication", "how_to_reg"),
            _list("Invitations", "creators.creatorinvitation", "mail"),
            _list("Creator accounts", "creators.creatoraccount", "badge"),
            _list("Code requests", "creators.coderequest", "confirmation_number"),
            _list("Discount codes", "creators.discountcode", "sell"),
            _list("Product requests", "creators.productrequest", "inventory"),
            _list("Programs", "creators.program", "workspaces"),
            _list("Creator groups", "creators.creatorgroup", "groups"),
            _list("Commission rules", "creators.ruleset", "percent"),
            _list("Product collections", "creators.productcollection", "collections_bookmark"),
            _list("Portal options", "creators.programportaloptions", "tune"),
            _list("Fraud review", "attribution.heldcommission", "gpp_maybe"),
            _list("Fraud signals", "attribution.fraudsignal", "flag"),
        ],
    },
    {
        "title": "Money",
        "items": [
            _list("Commissions", "sales.commission", "payments"),
            _list("Balances", "sales.creatorbalance", "account_balance_wallet"),
            _list("Payout runs", "sales.payoutrun", "send_money"),
            _list("Payouts", "sales.payout", "paid"),
            _list("Payout details", "sales.payoutdetails", "account_balance"),
            _list("Tax forms", "sales.taxform", "description"),
            _list("Reconciliation", "sales.reconciliationimport", "rule_folder"),
            _list("Provider transactions", "sales.providertransaction", "swap_horiz"),
            _list("Ledger accounts", "sales.ledgeraccount", "book"),
            _list("Ledger transactions", "sales.ledgertransaction", "list_alt"),
            _list("Ledger checks", "sales.ledgerverification", "verified"),
        ],
    },
    {
        "title": "Catalog",
        "items": [
            _list("Products", "catalog.product", "inventory_2"),
            _list("Variants", "catalog.variant", "style"),
            _page(
                "Low stock and days of cover",
                "admin:sales_fulfilment_low_stock",
                "trending_down",
                permission("catalog.view_product"),
            ),
            _list("Listings", "integrations.listing", "storefront"),
        ],
    },
    {
        "title": "Settings",
        "items": [
            _list("Sales channels", "sales.saleschannel", "hub"),
            _list("Connections", "integrations.connection", "cable"),
            _list("Platform webhooks", "integrations.webhookdelivery", "webhook"),
            _list("Compliance requests", "integrations.compliancerequest", "privacy_tip"),
            _list("Conversion destinations", "attribution.conversiondestination", "ads_click"),
            _list("Allowed domains", "links.alloweddomain", "domain"),
            _list("Domain changes", "links.alloweddomainchange", "history_edu"),
            _list("Users", "auth.user", "person"),
            _list("Roles", "auth.group", "group"),
            _list("API tokens", "authtoken.tokenproxy", "key"),
            _list("Login attempts", "axes.accessattempt", "login"),
            _list("Login failures", "axes.accessfailurelog", "lock"),
            _list("Login log", "axes.accesslog", "event_note"),
        ],
    },
]


def sidebar_for(request) -> list[dict]:
    """The groups and items this user sees: [{"title", "items": [{"title", "link"}]}]."""
    from django.contrib import admin

    shown = []
    for group in admin.site.get_sidebar_list(request):
        items = [
            {"title": str(item["title"]), "link": str(item["link"])}
            for item in group["items"]
            if item["has_permission"]
        ]
        if items:
            shown.append({"title": group["title"], "items": items})
    return shown
