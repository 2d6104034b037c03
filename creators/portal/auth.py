"""Creators' logins: by email and password (this backend), throttled by django-axes.

The portal's login view calls `authenticate(request, username=<email>, password=...,
portal=True)`. Axes' backend comes first in AUTHENTICATION_BACKENDS and refuses a locked-out
address and name at once; this backend then finds the live creator account with that email.
Only users with a creator account are creators; they are never staff, so `/admin/` refuses
them, and the portal refuses staff (who have no creator account).
"""

from axes.backends import AxesStandaloneBackend
from django.contrib.auth.backends import ModelBackend
from django.shortcuts import render

from creators.accounts import account_for_email
from links.visitors import client_ip as _client_ip


class ThrottleBackend(AxesStandaloneBackend):
    """django-axes' backend for logins made by an HTTP request (portal and console);
    `authenticate()` without a request (a script, the test client's `login`) has no client
    address to count failures by, and is not throttled."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class CreatorEmailBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, portal=False, **kwargs):
        if not portal or not username or password is None:
            return None
        account = account_for_email(username)
        if account is None:
            # Run the hasher anyway, so a missing account takes as long as a wrong password.
            from django.contrib.auth import get_user_model

            get_user_model()().set_password(password)
            return None
        user = account.user
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


def client_ip(request) -> str:
    """The address axes counts failures by: the same one the click capture trusts
    (`CLIENT_IP_HEADER` from your edge, else the socket's)."""
    return _client_ip(request) if request is not None else ""


def locked_out(request, original_response=None, credentials=None):
    """What a locked-out login sees (portal and console): 429 with when to try again."""
    from django.conf import settings

    minutes = round(float(settings.AXES_COOLOFF_TIME) * 60)
    return render(
        request,
        "creators/portal/locked_out.html",
        {
            "minutes": minutes,
            "brand": settings.PORTAL_BRAND_NAME,
            "portal": request.path.startswith("/creators/"),
        },
        status=429,
    )
