"""The creator portal's pages, `/creators/`: joining (apply, answer, invitations), logging in
(password, one-time email link, reset), and the portal itself (home, links, codes, content,
earnings, payouts, settings). Server-rendered and mobile-first; each page reads through
`creators.portal.selectors` and writes through the services of the app that owns the data.

Every page that takes an id looks it up among the logged-in creator's own rows, so another
creator's id is a 404; anonymous visitors are sent to the login page; every form has CSRF
protection (Django's middleware, no exemptions) and logging in rotates the session key.
"""

import json
import logging
import re
from datetime import UTC, timedelta
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordChangeForm as DjangoPasswordChangeForm
from django.core.serializers.json import DjangoJSONEncoder
from django.http import FileResponse, Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.absolute_urls import absolute_url
from core.crypto import keyed_hash
from core.errors import ApplicationError
from creators import applications, payout_terms, services, throttle
from creators.portal import forms
from creators.portal import selectors as reads
from creators.program_models import Program
from links import services as link_services
from links.visitors import client_ip, network_of
from sales import payouts as payout_services
from sales import selectors as sales_reads
from ugc import services as ugc_services

logger = logging.getLogger(__name__)

LOGIN_URL = "portal:login"
BACKEND = "creators.portal.auth.CreatorEmailBackend"
HEX_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")


# -- helpers --------------------------------------------------------------------------------


class PasswordChangeForm(DjangoPasswordChangeForm):
    """Django's form, without the autofocus that scrolls the settings page to it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["old_password"].widget.attrs.pop("autofocus", None)


def _show(form, exc: ApplicationError) -> None:
    """An ApplicationError beside the form's fields (on top when it names none of them)."""
    placed = False
    for name, msgs in exc.fields.items():
        if name in form.fields:
            for message in msgs:
                form.add_error(name, message)
            placed = True
    if not placed:
        form.add_error(None, exc.message)


def _network_hash(request) -> str:
    network = network_of(client_ip(request))
    return keyed_hash("creator-network", network) if network else ""


def _url(name: str, *args) -> str:
    return absolute_url(reverse(name, args=args) if args else reverse(name))


def _set_password_url(suffix: str) -> str:
    if not suffix:
        return _url("portal:login")
    uid, token = suffix.split("/", 1)
    return _url("portal:set_password", uid, token)


def _safe_next(request, default: str = "portal:home") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if (
        target.startswith("/creators/")
        and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
        and not target.startswith("/creators/login")
    ):
        return target
    return reverse(default)


def creator_required(view):
    """Logged in with a live creator account: `request.creator` is theirs. Anonymous
    visitors go to the login page; other users (staff) are told this is the creators'."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return redirect(f"{reverse(LOGIN_URL)}?next={request.path}")
        account = getattr(user, "creator_account", None)
        if account is None or account.erased_at is not None:
            return render(request, "creators/portal/not_a_creator.html", status=403)
        request.creator = account.creator
        request.creator_account = account
        return view(request, *args, **kwargs)

    return never_cache(wrapper)


def _page(request, template: str, context: dict, status: int = 200):
    context.setdefault("creator", getattr(request, "creator", None))
    context.setdefault("brand", settings.PORTAL_BRAND_NAME)
    return render(request, f"creators/portal/{template}", context, status=status)


def brand_css(request):
    """The shop's colour for the portal's stylesheet (a file, so the CSP allows no inline
    style)."""
    color = settings.PORTAL_BRAND_COLOR
    color = color if HEX_COLOR.match(color) else "#e3165b"
    response = HttpResponse(f":root {{ --accent: {color}; }}\n", content_type="text/css")
    response["Cache-Control"] = "public, max-age=300"
    return response


# -- joining --------------------------------------------------------------------------------


def apply(request, slug):
    try:
        program = applications.program_for_applying(slug)
    except ApplicationError as exc:
        if exc.code == "not_found":
            raise Http404(exc.message) from None
        return _page(request, "apply_closed.html", {"message": exc.message}, status=404)
    terms = program.current_terms()
    form = forms.ApplyForm(
        request.POST or None, initial={"terms_version": getattr(terms, "version", 0)}
    )
    status = 200
    if request.method == "POST" and form.is_valid():
        network_hash = _network_hash(request)
        if form.cleaned_data["website"]:
            logger.info("creator.apply_honeypot", extra={"program": program.slug})
            return redirect("portal:apply_done", slug=program.slug)
        if not throttle.allow(
            "apply", network_hash or "unknown",
            limit=settings.PORTAL_APPLY_PER_NETWORK_PER_HOUR, window=3600,
        ):  # fmt: skip
            form.add_error(None, "Too many applications from your network; try again in an hour.")
            status = 429
        else:
            try:
                services.application_submit(
                    program_slug=program.slug,
                    terms_version=form.cleaned_data["terms_version"],
                    accept_terms=form.cleaned_data["accept_terms"],
                    network_hash=network_hash,
                    set_password_url=_set_password_url,
                    **form.service_fields(),
                )
            except ApplicationError as exc:
                _show(form, exc)
                status = 400
            else:
                return redirect("portal:apply_done", slug=program.slug)
    elif request.method == "POST":
        status = 400
    return _page(
        request, "apply.html", {"program": program, "terms": terms, "form": form}, status=status
    )


def apply_done(request, slug):
    program = reads.program_by_slug(slug)
    if program is None:
        raise Http404("No such program")
    return _page(request, "apply_done.html", {"program": program})


def apply_answer(request, token):
    try:
        application = applications.application_for_answer(token)
    except ApplicationError as exc:
        return _page(request, "link_invalid.html", {"message": exc.message}, status=404)
    form = forms.AnswerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.application_answer(token=token, answer=form.cleaned_data["answer"])
        except ApplicationError as exc:
            _show(form, exc)
        else:
            return _page(request, "apply_answered.html", {"program": application.program})
    return _page(request, "apply_answer.html", {"application": application, "form": form})


def invitation(request, token):
    try:
        invite = applications.invitation_for_token(token)
    except ApplicationError as exc:
        return _page(request, "link_invalid.html", {"message": exc.message}, status=404)
    form = forms.InvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            creator = services.invitation_accept(
                token=token, name=form.cleaned_data["name"], password=form.cleaned_data["password1"]
            )
        except ApplicationError as exc:
            if exc.code in ("not_found", "expired", "conflict"):
                return _page(request, "link_invalid.html", {"message": exc.message}, status=404)
            exc.fields = {"password1" if k == "password" else k: v for k, v in exc.fields.items()}
            _show(form, exc)
        else:
            login(request, creator.account.user, backend=BACKEND)
            messages.success(request, f"Welcome to {invite.group.program.name}!")
            return redirect("portal:home")
    return _page(request, "invitation.html", {"invitation": invite, "form": form})


# -- logging in -----------------------------------------------------------------------------


@never_cache
def login_view(request):
    form = forms.LoginForm(request.POST or None)
    link_form = forms.LoginLinkForm()
    status = 200
    if request.method == "POST" and form.is_valid():
        user = authenticate(
            request,
            username=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
            portal=True,
        )
        if user is not None and hasattr(user, "creator_account"):
            login(request, user, backend=BACKEND)  # a new session key
            return redirect(_safe_next(request))
        form.add_error(None, "That email and password do not match an account.")
        status = 400
    return _page(
        request,
        "login.html",
        {"form": form, "link_form": link_form, "next": _safe_next(request)},
        status=status,
    )


@never_cache
def login_link_request(request):
    if request.method != "POST":
        return redirect(LOGIN_URL)
    form = forms.LoginLinkForm(request.POST)
    if not form.is_valid():
        return _page(
            request, "login.html",
            {"form": forms.LoginForm(), "link_form": form, "next": _safe_next(request)},
            status=400,
        )  # fmt: skip
    email = form.cleaned_data["email"].lower()
    limit = settings.PORTAL_LOGIN_LINKS_PER_HOUR
    if throttle.allow(
        "login-link", keyed_hash("creator-login-email", email), limit=limit, window=3600
    ) and throttle.allow("login-link-ip", _network_hash(request), limit=limit * 4, window=3600):
        services.login_link_request(
            email=email, login_url=lambda token: _url("portal:login_link", token)
        )
    # The same answer whether or not the email has an account (or was throttled).
    return _page(request, "login_link_sent.html", {"email": email})


@never_cache
def login_link(request, token):
    """GET shows a button (mail scanners that follow links must not use them up); POST
    logs in."""
    if request.method == "POST":
        try:
            user = services.login_link_redeem(token=token)
        except ApplicationError as exc:
            return _page(request, "link_invalid.html", {"message": exc.message}, status=404)
        login(request, user, backend=BACKEND)
        return redirect("portal:home")
    return _page(request, "login_link.html", {})


@require_POST
def logout_view(request):
    logout(request)
    return redirect(LOGIN_URL)


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "creators/portal/password_reset.html"
    email_template_name = "creators/emails/password_reset.txt"
    subject_template_name = "creators/emails/password_reset_subject.txt"
    form_class = forms.CreatorPasswordResetForm
    success_url = reverse_lazy("portal:password_reset_done")

    def form_valid(self, form):
        self.extra_email_context = {
            "brand": settings.PORTAL_BRAND_NAME,
            "base": settings.PUBLIC_BASE_URL,
        }
        if not throttle.allow(
            "password-reset", keyed_hash("creator-login-email", form.cleaned_data["email"].lower()),
            limit=settings.PORTAL_LOGIN_LINKS_PER_HOUR, window=3600,
        ):  # fmt: skip
            return redirect(self.success_url)
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "creators/portal/password_reset_done.html"


class SetPasswordView(auth_views.PasswordResetConfirmView):
    """Reset a password, or set the first one after approval (the same signed link)."""

    template_name = "creators/portal/set_password.html"
    form_class = forms.CreatorSetPasswordForm
    post_reset_login = True
    post_reset_login_backend = BACKEND
    success_url = reverse_lazy("portal:home")

    def get_user(self, uidb64):
        user = super().get_user(uidb64)
        if user is None or not hasattr(user, "creator_account"):
            return None
        return user


# -- the portal -----------------------------------------------------------------------------


def _chart(series: list[dict], *, width: int = 600, height: int = 160) -> dict:
    """A server-drawn SVG chart: bars of clicks, a line of orders, on their own scales."""
    n = len(series) or 1
    step = width / n
    top_clicks = max([row["clicks"] for row in series] + [1])
    top_orders = max([row["orders"] for row in series] + [1])
    bars, points = [], []
    for i, row in enumerate(series):
        h = round(row["clicks"] / top_clicks * (height - 10), 1)
        bars.append({"x": round(i * step + 1, 1), "y": round(height - h, 1),
                     "w": round(max(step - 2, 1), 1), "h": h, "row": row})  # fmt: skip
        y = round(height - row["orders"] / top_orders * (height - 10), 1)
        points.append(f"{round(i * step + step / 2, 1)},{y}")
    return {
        "width": width, "height": height, "bars": bars, "points": " ".join(points),
        "top_clicks": top_clicks, "top_orders": top_orders,
        "first": series[0]["day"] if series else None,
        "last": series[-1]["day"] if series else None,
        "total_clicks": sum(r["clicks"] for r in series),
        "total_orders": sum(r["orders"] for r in series),
    }  # fmt: skip


@creator_required
def home(request):
    creator = request.creator
    now = timezone.now()
    periods = [reads.fill_period(creator, p) for p in reads.periods(now)]
    balances = reads.balances(creator)
    waiting = any(
        b.get("pending", 0) + b.get("available", 0) + b.get("in_payout", 0)
        for b in balances.values()
    )
    since = periods[0].start.date()
    context = {
        "periods": periods,
        "balances": [
            {
                "currency": currency,
                **{
                    kind: reads.money(b.get(kind, 0), currency)
                    for kind in ("pending", "available", "in_payout", "paid")
                },  # fmt: skip
            }
            for currency, b in sorted(balances.items())
        ],
        "earned": [
            {
                "label": p.label,
                "rows": [(c, reads.money(v, c)) for c, v in sorted(p.earned.items())],
                "paid": [(c, reads.money(v, c)) for c, v in sorted(p.paid.items())],
            }
            for p in periods
        ],  # fmt: skip
        "chart": _chart(reads.daily_series(creator, days=30, today=now.astimezone(UTC).date())),
        "top_links": reads.top_links(creator, since=since),
        "top_content": reads.top_content(creator, since=since),
        "attention": reads.attention(creator, now=now, money_waiting=waiting),
        "memberships": reads.memberships(creator),
    }
    return _page(request, "home.html", context)


def _link_form(request, memberships, data=None):
    form = forms.LinkForm(data)
    form.set_programs(memberships)
    return form


@creator_required
def links(request):
    creator = request.creator
    memberships = reads.memberships(creator)
    form = _link_form(request, memberships, request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            program = next(
                m.program for m in memberships if m.program_id == form.cleaned_data["program"]
            )
            code = form.cleaned_data["code"].strip()
            if code and not applications.program_options(program.pk).allow_custom_slugs:
                form.add_error(None, f"{program.name} does not allow custom link codes.")
            else:
                try:
                    made = link_services.link_create(
                        product_id=form.cleaned_data["product"].pk,
                        creator_id=creator.pk,
                        code=code,
                        utm_source=form.cleaned_data["platform"],
                        utm_medium="creator",
                        utm_campaign=program.slug,
                        utm_content=creator.handle,
                    )
                except ApplicationError as exc:
                    _show(form, exc)
                else:
                    messages.success(
                        request, f"Your link is ready: {absolute_url(made.get_absolute_url())}"
                    )
                    return redirect("portal:link", link_id=made.pk)
        status = 400
    context = {
        "links": [(item, absolute_url(item.get_absolute_url())) for item in reads.links(creator)],
        "form": form,
        "memberships": memberships,
        "custom_slugs": any(
            applications.program_options(m.program_id).allow_custom_slugs for m in memberships
        ),
    }
    return _page(request, "links.html", context, status=status)


@creator_required
def link_detail(request, link_id):
    found = reads.link(request.creator, link_id)
    if found is None:
        raise Http404("No such link")
    days = 30
    since = timezone.now() - timedelta(days=days)
    breakdown = reads.link_breakdown(found, since=since)
    groups = [
        {"name": name, "label": label, "rows": breakdown[name],
         "top": max([r["clicks"] for r in breakdown[name]] + [1])}
        for name, label in reads.GROUPS.items()
    ]  # fmt: skip
    context = {
        "link": found,
        "short_url": absolute_url(found.get_absolute_url()),
        "groups": groups,
        "days": days,
        "affiliate_param": settings.AFFILIATE_PARAM,
    }
    return _page(request, "link.html", context)


@creator_required
def codes(request):
    creator = request.creator
    memberships = reads.memberships(creator)
    form = forms.CodeRequestForm(request.POST or None)
    form.set_programs(memberships)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                requested = services.code_request(
                    creator_id=creator.pk,
                    program_id=form.cleaned_data["program"],
                    code=form.cleaned_data["code"],
                )
            except ApplicationError as exc:
                _show(form, exc)
            else:
                messages.success(
                    request, f"Asked for {requested.code}; the shop will approve it or say why not."
                )
                return redirect("portal:codes")
        status = 400
    return _page(
        request, "codes.html", {"codes": reads.codes(creator), "form": form}, status=status
    )


@creator_required
def samples(request):
    """Product samples (issue 18): ask for one, see the shop's answer and what came back."""
    creator = request.creator
    form = forms.ProductRequestForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.product_request_create(
                    creator_id=creator.pk,
                    product_id=form.cleaned_data["product"].pk,
                    note=form.cleaned_data["note"],
                )
            except ApplicationError as exc:
                _show(form, exc)
            else:
                messages.success(request, "Asked; the shop will answer here.")
                return redirect("portal:samples")
        status = 400
    context = {"requests": reads.product_requests(creator), "form": form}
    return _page(request, "samples.html", context, status=status)


@creator_required
def content(request):
    items = [(item, reads.content_status(item)) for item in reads.content(request.creator)]
    return _page(request, "content.html", {"items": items})


@creator_required
def content_new(request):
    creator = request.creator
    memberships = reads.memberships(creator)
    licences = reads.current_licences(m.program_id for m in memberships)
    offered = [m for m in memberships if m.program_id in licences]
    form = forms.ContentForm(request.POST or None, request.FILES or None)
    form.set_programs(offered)
    chosen = form.data.get("program") or (offered[0].program_id if offered else None)
    try:
        licence = licences.get(int(chosen)) if chosen else None
    except (TypeError, ValueError):
        licence = None
    if licence is not None:
        form.initial["licence"] = licence.pk
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                item = ugc_services.ugc_portal_submit(
                    creator_id=creator.pk,
                    media_file=form.cleaned_data["media_file"],
                    licence_id=form.cleaned_data["licence"],
                    accept_licence=form.cleaned_data["accept_licence"],
                    product_ids=[p.pk for p in form.cleaned_data["products"]],
                    caption=form.cleaned_data["caption"],
                    network_hash=_network_hash(request),
                )
            except ApplicationError as exc:
                exc.fields = {
                    {"media_file": "media_file", "program": "program"}.get(k, k): v
                    for k, v in exc.fields.items()
                }
                _show(form, exc)
            else:
                messages.success(request, "Thank you! Your content is waiting for review.")
                return redirect("portal:content_item", item_id=item.pk)
        status = 400
    context = {"form": form, "licence": licence, "licences": licences, "offered": offered}
    return _page(request, "content_new.html", context, status=status)


@creator_required
def content_item(request, item_id):
    item = reads.content_item(request.creator, item_id)
    if item is None:
        raise Http404("No such content")
    manifest = item.media_manifest or {}
    context = {
        "item": item,
        "status": reads.content_status(item),
        "rights": getattr(item, "rights", None),
        "metrics": reads.content_metrics(item),
        "thumbnail": (manifest.get("thumbnail") or {}).get("url", ""),
    }
    return _page(request, "content_item.html", context)


@creator_required
def content_withdraw(request, item_id):
    item = reads.content_item(request.creator, item_id)
    if item is None:
        raise Http404("No such content")
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        ugc_services.ugc_portal_withdraw(creator_id=request.creator.pk, item_id=item.pk)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Your consent is withdrawn: the shop will not show it again.")
    return redirect("portal:content_item", item_id=item.pk)


@creator_required
def earnings(request):
    creator = request.creator
    balances = [
        {
            "currency": currency,
            **{
                k: reads.money(b.get(k, 0), currency)
                for k in ("pending", "available", "in_payout", "paid")
            },
        }  # fmt: skip
        for currency, b in sorted(reads.balances(creator).items())
    ]
    return _page(
        request, "earnings.html", {"earnings": reads.earnings(creator), "balances": balances}
    )


@creator_required
def settings_view(request):
    account = request.creator_account
    form = forms.ProfileForm(
        request.POST or None, instance=account, initial={"name": request.creator.name}
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.account_update(
                    creator_id=request.creator.pk,
                    **{k: form.cleaned_data[k] for k in ["name", *form.Meta.fields]},
                )
            except ApplicationError as exc:
                _show(form, exc)
            else:
                messages.success(request, "Saved.")
                return redirect("portal:settings")
        status = 400
    account.refresh_from_db()
    return _page(
        request,
        "settings.html",
        {
            "form": form,
            "password_form": PasswordChangeForm(request.user),
            "payout_details": reads.payout_details_on_file(request.creator),
        },  # fmt: skip
        status=status,
    )


@creator_required
def password_change(request):
    if request.method != "POST":
        return redirect("portal:settings")
    form = PasswordChangeForm(request.user, request.POST)
    if form.is_valid():
        try:
            user = services.account_set_password(
                creator_id=request.creator.pk, password=form.cleaned_data["new_password1"]
            )
        except ApplicationError as exc:
            form.add_error("new_password1", exc.message)
        else:
            update_session_auth_hash(request, user)
            messages.success(request, "Your password is changed.")
            return redirect("portal:settings")
    return _page(
        request, "settings.html",
        {"form": forms.ProfileForm(instance=request.creator_account,
                                   initial={"name": request.creator.name}),
         "password_form": form,
         "payout_details": reads.payout_details_on_file(request.creator)},
        status=400,
    )  # fmt: skip


@creator_required
def export(request):
    """Everything the portal holds about the creator, as one JSON file."""
    data = reads.export(request.creator)
    response = HttpResponse(
        json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False),
        content_type="application/json; charset=utf-8",
    )
    stamp = timezone.now().strftime("%Y%m%d")
    response["Content-Disposition"] = f'attachment; filename="my-data-{stamp}.json"'
    return response


@creator_required
def erase(request):
    form = forms.EraseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if not request.user.check_password(form.cleaned_data["password"]):
            form.add_error("password", "That is not your password.")
        else:
            services.account_erase(creator_id=request.creator.pk)
            logout(request)
            return _page(request, "erased.html", {"creator": None})
    return _page(request, "erase.html", {"form": form}, status=400 if form.errors else 200)


# -- payouts --------------------------------------------------------------------------------


def _payouts_page(request, *, details_form=None, tax_form=None, status=200):
    """The Payouts page: balances per currency (the console's reads), payout history, the
    statements of every month the ledger moved, payout details and tax forms."""
    creator = request.creator
    held = sales_reads.creator_held_for_review(creator_id=creator.pk)
    balances = [
        {
            "currency": row["currency"],
            **{k: reads.money(row[k], row["currency"]) for k in sales_reads.CREATOR_KINDS},
            "held": reads.money(held.get(row["currency"], 0), row["currency"]),
            "is_held": bool(held.get(row["currency"])),
            "owes": bool(row["receivable"]),
        }
        for row in sales_reads.creator_balances(creator_id=creator.pk)
    ]
    statements = [
        {
            **s,
            "html": sales_reads.statement_link(
                creator_id=creator.pk, currency=s["currency"], month=s["month"]
            ),
            "csv": sales_reads.statement_link(
                creator_id=creator.pk, currency=s["currency"], month=s["month"], fmt="csv"
            ),
        }
        for s in sales_reads.statement_months(creator_id=creator.pk)
    ]
    details = sales_reads.creator_payout_details(creator_id=creator.pk)
    data = details.data if details else {}
    if details_form is None:
        details_form = forms.PayoutDetailsForm(
            initial={"method": data.get("method") or "paypal", "country": data.get("country", "")}
        )
    terms = payout_terms.payout_terms([creator.pk])[creator.pk]
    context = {
        "balances": balances,
        "payouts": sales_reads.creator_payouts(creator_id=creator.pk),
        "statements": statements,
        "details": details,
        "method": dict(forms.PayoutDetailsForm.METHODS).get(data.get("method"), ""),
        "missing": payout_missing(details),
        "details_form": details_form,
        "tax_forms": sales_reads.creator_tax_forms(creator_id=creator.pk),
        "tax_form_form": tax_form or forms.TaxFormUploadForm(),
        "tax_form_limit": settings.TAX_FORM_MAX_BYTES,
        "schedule": dict(Program.PayoutSchedule.choices).get(
            terms.schedule, terms.schedule.replace("_", " ").capitalize()
        ),
        "minimums": [
            (b["currency"], reads.money(terms.minimum(b["currency"]), b["currency"]))
            for b in balances
        ],
    }
    return _page(request, "payouts.html", context, status=status)


def payout_missing(details) -> list[str]:
    """What the shop still needs before it can pay the creator, in their words."""
    data = details.data if details else {}
    missing = []
    if not data.get("method") or not data.get("account"):
        missing.append("how to pay you")
    if not data.get("country"):
        missing.append("the country where you pay tax")
    if not data.get("tax_form_received"):
        missing.append("your tax form")
    return missing


@creator_required
def payouts(request):
    return _payouts_page(request)


@creator_required
@require_POST
def payout_details(request):
    """Change how the creator is paid: their password again; the creator is emailed."""
    form = forms.PayoutDetailsForm(request.POST)
    if form.is_valid():
        if not request.user.check_password(form.cleaned_data["password"]):
            form.add_error("password", "That is not your password.")
            logger.info("portal.payout_details_bad_password", extra={"creator": request.creator.pk})
        else:
            try:
                payout_services.payout_details_set(
                    creator_id=request.creator.pk,
                    method=form.cleaned_data["method"],
                    account=form.cleaned_data["account"],
                    country=form.cleaned_data["country"],
                    actor=request.user,
                )
            except ApplicationError as exc:
                _show(form, exc)
            else:
                messages.success(
                    request, "Your payout details are saved. We emailed you to confirm the change."
                )
                return redirect("portal:payouts")
    return _payouts_page(request, details_form=form, status=400)


@creator_required
@require_POST
def tax_form_upload(request):
    form = forms.TaxFormUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            payout_services.tax_form_upload(
                creator_id=request.creator.pk, upload=form.cleaned_data["file"], actor=request.user
            )
        except ApplicationError as exc:
            _show(form, exc)
        else:
            messages.success(request, "Thank you: your tax form is uploaded.")
            return redirect("portal:payouts")
    return _payouts_page(request, tax_form=form, status=400)


@creator_required
def tax_form_download(request, form_id):
    """One of the creator's own tax forms, as a download (never shown inline)."""
    found = sales_reads.creator_tax_forms(creator_id=request.creator.pk).filter(pk=form_id).first()
    if found is None:
        raise Http404("No such tax form")
    response = FileResponse(
        found.file.open("rb"),
        as_attachment=True,
        filename=found.download_name,
        content_type=found.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response
