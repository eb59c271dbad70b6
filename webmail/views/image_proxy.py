from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from webmail.services.image_proxy import ImageProxyError, image_proxy_fetch


@require_GET
def image_proxy(request):
    """Remote images of a message the reader chose to show. Requested from the sandboxed
    body frame, which sends no session cookie; the signature is the permission, so this is
    never an open proxy, and the fetch refuses every non-public address."""
    try:
        image = image_proxy_fetch(url=request.GET.get("url", ""), sig=request.GET.get("sig", ""))
    except ImageProxyError:
        raise Http404("image not available") from None
    response = HttpResponse(image.data, content_type=image.content_type)
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response
