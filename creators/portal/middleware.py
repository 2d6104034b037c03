"""A strict Content-Security-Policy on the creator portal (django-csp).

Only `/creators/` gets it: the console and the shop's pages keep theirs. The policy is
`PORTAL_CONTENT_SECURITY_POLICY` in settings: scripts, styles, images, media, fonts and form
targets from the site itself, nothing inline, no frames, no plugins.
"""

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings

PORTAL_PREFIX = "/creators/"


class PortalCSPMiddleware(CSPMiddleware):
    def get_policy_parts(self, request, response, report_only=False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only=report_only)
        if not report_only and parts.config is None and request.path.startswith(PORTAL_PREFIX):
            parts.config = settings.PORTAL_CONTENT_SECURITY_POLICY
        return parts

    def process_response(self, request, response):
        if not request.path.startswith(PORTAL_PREFIX):
            return response
        response = super().process_response(request, response)
        response.setdefault("Cache-Control", "private, no-store")
        return response
