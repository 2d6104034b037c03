"""The WSGI application gunicorn serves: the link edge (links/edge.py) in front of Django.

The edge answers a shopper's GET of a live, cached `/p/<code>` itself and hands every other
request to Django's own WSGI handler unchanged.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_wsgi_application()

from links.edge import LinkEdge  # noqa: E402 - after Django is set up

application = LinkEdge(django_application)
