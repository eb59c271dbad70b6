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
