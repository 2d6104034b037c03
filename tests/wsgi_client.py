"""A test client that sends requests through a WSGI application: by default
`config.wsgi.application`, the callable gunicorn serves (the link edge in front of Django).

It keeps django.test.Client's API (get, head, post, extra headers as HTTP_* keywords,
`secure=True`, cookies kept between requests, `response.json()`) and returns an HttpResponse
rebuilt from what the application sent: the status, every header as sent, and the Set-Cookie
headers parsed into `response.cookies`. Django's test handler is not involved, so a test sees
exactly what a server would send.
"""

from functools import partial
from http.cookies import SimpleCookie

from django.core.signals import got_request_exception, request_finished, request_started
from django.db import close_old_connections
from django.http import HttpResponse
from django.test import Client


class WSGIClient(Client):
    def __init__(self, application=None, **defaults):
        super().__init__(**defaults)
        if application is None:
            from config.wsgi import application
        self.application = application

    def request(self, **request):
        environ = self._base_environ(**request)
        sent = {}

        def start_response(status, headers, exc_info=None):
            sent["status"], sent["headers"] = status, headers

        exception_uid = f"wsgi-client-exception-{id(request)}"
        got_request_exception.connect(self.store_exc_info, dispatch_uid=exception_uid)
        # As django.test.Client does: the test's transaction must survive the request, so
        # the signals that close old database connections are held off around it.
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            body = self.application(environ, start_response)
            try:
                content = b"".join(body)
            finally:
                if hasattr(body, "close"):
                    body.close()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
            got_request_exception.disconnect(dispatch_uid=exception_uid)
        code, _, reason = sent["status"].partition(" ")
        response = HttpResponse(content, status=int(code), reason=reason)
        del response.headers["Content-Type"]
        response.sent_headers = list(sent["headers"])  # as the server would write them
        for name, value in sent["headers"]:
            if name.lower() == "set-cookie":
                response.cookies.load(value)
            elif name in response.headers:
                response.headers[name] += f", {value}"
            else:
                response.headers[name] = value
        for morsel in response.cookies.values():
            if morsel["max-age"]:
                morsel["max-age"] = int(morsel["max-age"])
        self.check_exception(response)
        response.client = self
        response.request = request
        response.json = partial(self._parse_json, response)
        if response.cookies:
            self.cookies.update(response.cookies)
        return response


def set_cookie_values(response) -> dict[str, str]:
    """{cookie name: the Set-Cookie header's value} as the server sent them."""
    cookies = {}
    for name, value in response.sent_headers:
        if name.lower() == "set-cookie":
            parsed = SimpleCookie()
            parsed.load(value)
            cookies.update({key: value for key in parsed})
    return cookies
