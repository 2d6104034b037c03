"""`manage.py rundemo [addr:port]`: the development server `make run` starts, which prints
where to go (the shop, the console and its logins, the feed, the API) after the server's own
banner, so the welcome is the last thing a newcomer reads, not lost above the logs.

It is `runserver` (whichever app provides it: WhiteNoise's, here) with one more hook.
"""

from django.conf import settings
from django.core.management import get_commands, load_command_class

# The `runserver` this project runs: the command class of the app that wins the name.
RunserverCommand = type(load_command_class(get_commands()["runserver"], "runserver"))


def welcome_text(base: str) -> str:
    user, password = settings.DEMO_ADMIN_USERNAME, settings.DEMO_ADMIN_PASSWORD
    rows = [
        ("The shop", f"{base}/  (a product page: {base}/products/cloud-knit-hoodie/)"),
        ("Merchant console", f"{base}/admin/  (login: {user} / {password})"),
        ("Moderation queue", f"{base}/admin/ugc/ugcitem/  (also as demo-moderator, same password)"),
        ("Shoppable feed", f"{base}/shop/feed"),
        ("A collection", f"{base}/shop/collections/weekend-looks/"),
        ("Creator portal", f"{base}/creators/  (login: maya-makes@example.com / {password};"),
        ("", f"apply at {base}/creators/apply/creators-club/)"),
        ("API docs", f"{base}/api/docs/  (tokens: {base}/admin/authtoken/tokenproxy/)"),
        ("Orders", f"{base}/admin/sales/order/  (Buy on a product page pays in test mode;"),
        ("", "'make demo-orders' in another shell sends signed webhooks of every provider)"),
    ]
    lines = [f"  {label:<17}{value}" for label, value in rows]
    return "\n".join(["", *lines, ""])


class Command(RunserverCommand):
    help = "Start the development server and print where to go (what `make run` runs)."

    def on_bind(self, server_port):
        super().on_bind(server_port)  # the server's banner: version, address, how to quit
        if self._raw_ipv6:
            host = f"[{self.addr}]"
        elif self.addr in ("0", "0.0.0.0"):  # noqa: S104 (bound everywhere: point at this host)
            host = "127.0.0.1"
        else:
            host = self.addr
        self.stdout.write(welcome_text(f"{self.protocol}://{host}:{server_port}"))
