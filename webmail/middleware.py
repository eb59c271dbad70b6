# The app's own pages: scripts and styles only from our origin, nothing inline, no remote
# loads, and only our own message-body endpoint may be framed (it sets its own policy).
APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class ContentSecurityPolicyMiddleware:
    """Sets the app's CSP on every response that has not set its own (the message-body
    and download endpoints set stricter ones)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = APP_CSP
        return response


class MailServerErrorMiddleware:
    """A mail server that is down, slow or refusing shows a page that says so, never a 500.

    The user's own mistakes (a wrong password) are logged at info; trouble on the server's
    side as a warning, with the error class but never a password or a message's content.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        import logging

        from django.shortcuts import render

        from accounts.crypto import CredentialError
        from webmail.protocols import errors
        from webmail.services.errors import error_message

        if not isinstance(exception, errors.MailServerError | CredentialError):
            return None
        log = logging.getLogger("webmail.errors")
        code = getattr(exception, "code", "credentials")
        # A refused private address is the user's choice of server too, not our fault.
        user_side = isinstance(
            exception, errors.AuthenticationFailed | errors.AddressNotAllowed | CredentialError
        )
        not_found = isinstance(exception, errors.FolderNotFound | errors.MessageNotFound)
        (log.info if user_side or not_found else log.warning)(
            "mail error %s on %s", code, request.path
        )
        status = 404 if not_found else 502
        return render(
            request,
            "mail/error.html",
            {"error_text": error_message(exception), "error_code": code},
            status=status,
        )


class UserActivityMiddleware:
    """Notes when a signed-in user was last seen (at most one write a minute), so the
    watcher process knows whose INBOX to hold IDLE on."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from webmail.services.watch import user_seen_record

        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            user_seen_record(user=user)
        return self.get_response(request)


class FetchMetadataOriginMiddleware:
    """Lets Django's CSRF check (the next middleware) take our own form posts from pages
    served with `Referrer-Policy: no-referrer` (issue 6: a link opened from any page leaks
    nothing).

    Under that policy browsers post a same-origin form with `Origin: null` and no Referer,
    which Django refuses. They also send `Sec-Fetch-Site` (Fetch Metadata; Chromium 76+,
    Firefox 90+, Safari 16.4+), a header no page can set: `same-origin` there proves the
    post came from one of our own pages, so the origin is ours and is named as such. The
    CSRF token is still checked as always; a null origin from anywhere else (a sandboxed
    frame, another site, a browser without Fetch Metadata) is left for Django to refuse."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        if meta.get("HTTP_ORIGIN") == "null" and meta.get("HTTP_SEC_FETCH_SITE") == "same-origin":
            meta["HTTP_ORIGIN"] = f"{request.scheme}://{request.get_host()}"
        return self.get_response(request)
