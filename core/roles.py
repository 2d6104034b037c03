"""The merchant roles: Django groups with least-privilege permissions.

The definition lives here; data migrations call `sync_roles` so that every database gets
the groups. It grants what exists at that point of the migration history, so an app that adds
models adds a migration (in core, depending on the app's) that calls it again.
"""

# Role -> {"app_label.model": actions}. Actions are Django's add, change, delete, view.
ALL = ("add", "change", "delete", "view")
VIEW = ("view",)

LINKS = {
    "links.shortlink": ALL,
    "links.routingrule": ALL,
    "links.splitarm": ALL,
    "links.campaign": ALL,
}
LINK_REPORTS = {
    "links.shortlink": VIEW,
    "links.clickevent": VIEW,
    "links.linkdailystats": VIEW,
}

# Moderating UGC: the custom "moderate" permission gates every moderation action.
UGC_MODERATION = {
    "ugc.ugcitem": (*ALL, "moderate"),
    "ugc.ugcrights": ALL,
    "ugc.ugcproductmap": ALL,
    "ugc.moderationevent": VIEW,
    "ugc.rejectionreason": ALL,
    "ugc.blocklistentry": ALL,
    "ugc.ugcmetricdaily": VIEW,
    "ugc.rightsrequest": VIEW,  # issue 18: asked from the item queue's action
    "ugc.socialpost": VIEW,
    "ugc.review": ("view", "moderate"),  # on-site reviews: published or rejected, not edited
    "ugc.reviewmedia": VIEW,
    "ugc.reviewevent": VIEW,
    "ugc.ugcschedule": ALL,  # publishing calendar (issue 18)
    "ugc.ugccollection": ALL,  # collections (issue 18)
    "ugc.ugccollectionentry": ALL,
}
# Social pulls (issue 18): the sources a moderator or the owner sets up on a connection.
SOCIAL_SOURCES = {
    "integrations.socialsource": ALL,
    "integrations.pulledpost": VIEW,
    "integrations.hashtagsearch": VIEW,
}
UGC_REPORTS = {
    "ugc.ugcitem": VIEW,
    "ugc.ugcmetricdaily": VIEW,
    "ugc.ugcschedule": VIEW,
    "ugc.ugccollection": VIEW,
    "ugc.ugccollectionentry": VIEW,
}

# Sales (issue 12): Owner runs channels and deliveries (replay) and orders; Finance reads
# everything about orders and refunds and may replay deliveries and re-map lines.
SALES_OWNER = {
    "sales.saleschannel": ALL,
    "sales.webhookdelivery": ("view", "change"),  # change = replay
    "sales.order": ("view", "change"),  # change = console actions (remap, stock, cancel)
    "sales.orderline": VIEW,
    "sales.unmappedline": ("view", "change"),
    "sales.orderevent": VIEW,
    "sales.refund": VIEW,
    "sales.refundline": VIEW,
    "sales.pendingorderevent": VIEW,
    "sales.reservation": ("view", "change"),  # change = release
    "sales.reservationevent": VIEW,
    # Fulfilment and stock defence (issue 19): add a parcel = ship (one, or a CSV); change =
    # mark delivered, send to the channel again, acknowledge an alert, lift a throttle.
    "sales.fulfilment": ("view", "add", "change"),
    "sales.fulfilmentline": VIEW,
    "sales.fulfilmentevent": VIEW,
    "sales.stockalert": ("view", "change"),
    "sales.reservationthrottle": ("view", "change"),
}
SALES_FINANCE = {
    **SALES_OWNER,
    "sales.saleschannel": VIEW,
    "sales.reservation": VIEW,
    "sales.fulfilment": VIEW,
    "sales.stockalert": VIEW,
    "sales.reservationthrottle": VIEW,
}
# --- integrations: platform connections and catalog sync --------------------------------
# "sync" is the custom permission to start a sync ("Sync now").
INTEGRATIONS_MANAGE = {
    "integrations.connection": (*ALL, "sync"),
    "integrations.fieldrule": ALL,
    "integrations.listing": ("view", "change"),  # change: a listing's category
    "integrations.externalproduct": VIEW,
    "integrations.webhookdelivery": VIEW,
    "integrations.syncrun": VIEW,
    "integrations.connectionevent": VIEW,
    # Shopify's compliance requests: "export" = download a customer's data export.
    "integrations.compliancerequest": ("view", "change", "export"),
    "integrations.complianceevent": VIEW,
}
INTEGRATIONS_CATALOG = {
    "integrations.connection": ("view", "sync"),
    "integrations.fieldrule": VIEW,
    "integrations.listing": ("view", "change"),
    "integrations.externalproduct": VIEW,
    "integrations.webhookdelivery": VIEW,
    "integrations.syncrun": VIEW,
}
INTEGRATIONS_REPORTS = {
    "integrations.connection": VIEW,
    "integrations.listing": VIEW,
    "integrations.syncrun": VIEW,
}
# --- end integrations -------------------------------------------------------------------

# --- attribution (issue 13): programs, rules and codes; decisions; fraud review; outbox ---
PROGRAMS_OWNER = {
    "creators.program": ALL,
    "creators.programterms": ALL,
    "creators.programpolicychange": VIEW,
    "creators.creatorgroup": ALL,
    "creators.groupmembership": ALL,
    "creators.productcollection": ALL,
    "creators.ruleset": ALL,
    "creators.commissionrule": ALL,
    "creators.discountcode": ALL,
    "creators.creatorfingerprint": ALL,
    "attribution.attribution": ("view", "add", "change"),  # add, change = (re)decide
    "attribution.attributionrevision": VIEW,
    "attribution.fraudsignal": VIEW,
    "attribution.heldcommission": ("view", "change"),  # change = approve, reduce, reject
    "attribution.conversiondestination": ALL,
    "attribution.conversionevent": ("view", "change"),  # change = retry
}
PROGRAMS_VIEW = {
    "creators.program": VIEW,
    "creators.programterms": VIEW,
    "creators.creatorgroup": VIEW,
    "creators.groupmembership": VIEW,
    "creators.productcollection": VIEW,
    "creators.ruleset": VIEW,
    "creators.commissionrule": VIEW,
    "creators.discountcode": VIEW,
}
ATTRIBUTION_FINANCE = {
    **PROGRAMS_VIEW,
    "attribution.attribution": VIEW,
    "attribution.attributionrevision": VIEW,
    "attribution.fraudsignal": VIEW,
    "attribution.heldcommission": ("view", "change"),
    "attribution.conversionevent": VIEW,
}
# --- end attribution ---

# --- creator portal (issue 15): applications, invitations, code requests, licences ---
PORTAL_OWNER = {
    "creators.creatorapplication": ("view", "change"),  # change = approve, reject, ask
    "creators.applicationevent": VIEW,
    "creators.creatorinvitation": ("add", "view", "change"),  # change = revoke
    "creators.coderequest": ("view", "change"),  # change = approve, reject
    "creators.contentlicence": ("add", "view"),
    "creators.programportaloptions": ALL,
    "creators.creatoraccount": VIEW,
    "creators.productrequest": ("view", "change"),  # issue 18: change = approve, decline
}
PORTAL_VIEW = {
    "creators.creatorapplication": VIEW,
    "creators.applicationevent": VIEW,
    "creators.creatorinvitation": VIEW,
    "creators.coderequest": VIEW,
    "creators.contentlicence": VIEW,
    "creators.programportaloptions": VIEW,
}
# --- end creator portal ---

# Ledger, payouts and reconciliation (issue 14): only Owner and Finance see balances and
# payouts. "approve" a payout run (never one's own), "change" a commission = the review
# actions (release a fraud hold, reduce, reject), "add" a ledger transaction = a manual
# adjustment, "change" a payout = mark a manual payout paid or failed; all audited.
LEDGER = {
    "sales.creatorbalance": VIEW,
    "sales.ledgeraccount": VIEW,
    "sales.ledgertransaction": ("view", "add"),
    "sales.ledgerentry": VIEW,
    "sales.ledgerverification": VIEW,
    "sales.commission": ("view", "change"),
    "sales.commissionevent": VIEW,
    "sales.payoutrun": ("view", "add", "change", "approve"),
    "sales.payoutrunevent": VIEW,
    "sales.payout": ("view", "change"),
    "sales.payoutcommission": VIEW,
    "sales.payoutevent": VIEW,
    "sales.payoutnotification": VIEW,
    "sales.payoutdetails": ("view", "add", "change"),
    "sales.taxform": VIEW,  # view = download a creator's tax form (creator portal, issue 15)
    "sales.reconciliationimport": ("view", "add"),
    "sales.providertransaction": ("view", "change"),
    "sales.reconciliationdismissal": ("view", "add"),
}

# --- analytics (issue 16): the dashboards show revenue and commission, so Owner and Finance.
DASHBOARDS = {"analytics.rollup": VIEW}
# --- end analytics ---

ROLES = {
    "Owner": {
        "catalog.product": ALL,
        "catalog.variant": ALL,
        "catalog.productimage": ALL,
        **LINK_REPORTS,
        **LINKS,  # after the reports: full rights on links win over view-only
        "links.alloweddomain": ALL,
        "links.alloweddomainchange": VIEW,
        "creators.creator": ALL,
        "previews.linkpreview": ALL,
        "auth.user": ALL,
        "auth.group": VIEW,
        "authtoken.token": ALL,
        "authtoken.tokenproxy": ALL,
        **UGC_MODERATION,
        **SALES_OWNER,
        **INTEGRATIONS_MANAGE,  # integrations
        **PROGRAMS_OWNER,  # attribution (issue 13)
        **PORTAL_OWNER,  # creator portal (issue 15)
        **LEDGER,
        **DASHBOARDS,  # analytics (issue 16)
        **SOCIAL_SOURCES,  # issue 18
    },
    "Catalog manager": {
        "catalog.product": ALL,
        "catalog.variant": ALL,
        "catalog.productimage": ALL,
        **LINK_REPORTS,
        **LINKS,
        "links.alloweddomain": VIEW,
        "links.alloweddomainchange": VIEW,
        "creators.creator": VIEW,
        "previews.linkpreview": ("add", "change", "view"),  # change: what a card shows
        **UGC_REPORTS,
        **INTEGRATIONS_CATALOG,  # integrations
        **PROGRAMS_VIEW,  # attribution (issue 13)
        **PORTAL_VIEW,  # creator portal (issue 15)
    },
    "Moderator": {
        "catalog.product": VIEW,
        "catalog.variant": VIEW,
        "catalog.productimage": VIEW,
        "creators.creator": VIEW,
        **UGC_MODERATION,
        "creators.contentlicence": VIEW,  # creator portal (issue 15): what uploads accepted
        **SOCIAL_SOURCES,  # issue 18
    },
    "Finance": {
        "catalog.product": VIEW,
        "catalog.variant": VIEW,
        "creators.creator": VIEW,
        **LINK_REPORTS,
        **UGC_REPORTS,
        **SALES_FINANCE,
        **INTEGRATIONS_REPORTS,  # integrations
        **ATTRIBUTION_FINANCE,  # attribution (issue 13)
        **LEDGER,
        **DASHBOARDS,  # analytics (issue 16)
    },
}


def _model_exists(apps, app_label: str, model: str) -> bool:
    try:
        apps.get_model(app_label, model)
    except LookupError:
        return False
    return True


def sync_roles(apps) -> None:
    """Make each role's group hold exactly its permissions (idempotent)."""
    from django.contrib.auth.management import create_permissions

    # Permissions are normally made after migrate; make them now so the groups can hold them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, grants in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for model_label, actions in grants.items():
            app_label, model = model_label.split(".")
            if not _model_exists(apps, app_label, model):
                continue  # not migrated yet: a later migration of that app syncs again
            codenames = [f"{action}_{model}" for action in actions]
            found = list(
                Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
            )
            missing = set(codenames) - {p.codename for p in found}
            if missing:
                raise LookupError(f"role {role!r}: no permission {sorted(missing)} in {app_label}")
            wanted.extend(found)
        group.permissions.set(wanted)


def migrate_roles(apps, schema_editor) -> None:
    """The RunPython step of core's role migrations."""
    sync_roles(apps)
