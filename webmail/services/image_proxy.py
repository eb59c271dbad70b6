"""Remote images in mail, fetched by us once the reader has agreed to show them.

The sanitizer rewrites each remote image to `image_proxy_url(url)`; the proxy view calls
`image_proxy_fetch`. The signature is what keeps the proxy from being an open relay: only
URLs we put into a rendered message are fetched, and netguard keeps even those to the
public internet.
"""

import logging
import re
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core.signing import BadSignature, Signer

from webmail.protocols.remote_image import FetchedImage, ImageFetchError, image_fetch

PROXY_PATH = "/mail/image-proxy/"
_SALT = "postfach.image-proxy"
# Images that exist to report "opened, when, how often": never loaded, even when the reader
# shows remote images (issue 6). Hosts (and their sub-domains) that serve nothing else, and
# the open-tracking paths mail services use on their customers' own link domains. A small
# list of the common ones, not a blocklist subscription.
TRACKER_HOSTS = frozenset(
    {
        "list-manage.com",  # Mailchimp's track/open.php
        "mailtrack.io",
        "mailsuite.com",
        "getnotify.com",
        "bananatag.com",
        "yesware.com",
        "mailfoogae.appspot.com",  # Streak
        "sidekickopen.com",  # HubSpot Sales
        "hubspotemail.net",
        "mandrillapp.com",
        "mailtag.io",
        "r.superhuman.com",
        "pixel.wp.com",
        "google-analytics.com",
        "doubleclick.net",
        "facebook.com",
        "bat.bing.com",
    }
)
_TRACKER_PATH = re.compile(
    r"/(?:wf/open|track/open|trk/open|open\.php|openpixel|tracking/open)\b", re.I
)

logger = logging.getLogger(__name__)

__all__ = [
    "FetchedImage",
    "ImageProxyError",
    "ImageProxyFetchFailed",
    "ImageProxySignatureInvalid",
    "PROXY_PATH",
    "image_proxy_fetch",
    "image_proxy_url",
]


class ImageProxyError(Exception):
    """The proxy will not serve this image (the view answers 404 to all of them alike)."""


class ImageProxySignatureInvalid(ImageProxyError, BadSignature):
    """The url/sig pair was not made by `image_proxy_url` (forged or altered)."""


class ImageProxyFetchFailed(ImageProxyError):
    """The remote image could not be fetched; the message is the short reason."""


def image_proxy_url(url: str) -> str | None:
    """The app URL that serves the remote image `url` through the proxy; None for a known
    tracker, which the sanitizer then leaves without a source."""
    if image_is_tracker(url):
        return None
    signer = _signer()
    signature = signer.sign(url).rsplit(signer.sep, 1)[1]
    return f"{PROXY_PATH}?{urlencode({'url': url, 'sig': signature})}"


def image_proxy_fetch(*, url: str, sig: str) -> FetchedImage:
    """Verify the signature, then fetch with the limits from settings.

    Raises ImageProxySignatureInvalid (also a BadSignature) or ImageProxyFetchFailed, both
    ImageProxyError.
    """
    signer = _signer()
    # A separator inside `sig` would let unsign() split the pair elsewhere and vouch for
    # a different value than the `url` we are about to fetch.
    try:
        if signer.sep in sig:
            raise BadSignature("separator in signature")
        signer.unsign(f"{url}{signer.sep}{sig}")
    except BadSignature as error:
        logger.warning("image proxy: refused a request with a bad signature")
        raise ImageProxySignatureInvalid("bad signature") from error
    if image_is_tracker(url):  # signed before the list named it
        raise ImageProxyFetchFailed("known tracker")
    try:
        return image_fetch(
            url,
            max_bytes=settings.IMAGE_PROXY_MAX_BYTES,
            timeout=settings.IMAGE_PROXY_TIMEOUT,
            allow=list(settings.IMAGE_PROXY_ALLOW_PRIVATE),
        )
    except ImageFetchError as error:
        # The sender's server, not us and not the reader: worth a line, not an alarm. The
        # host only; the rest of the URL is often a per-recipient tracking token.
        logger.info("image proxy: %s from %s", error, urlsplit(url).hostname)
        raise ImageProxyFetchFailed(str(error)) from error


def image_is_tracker(url: str) -> bool:
    """True for an image URL on a known tracking host or open-tracking path."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return False
    labels = host.split(".")
    if any(".".join(labels[i:]) in TRACKER_HOSTS for i in range(len(labels))):
        return True
    return bool(_TRACKER_PATH.search(parts.path))


def _signer() -> Signer:
    # Built per call so a SECRET_KEY changed in tests (override_settings) is honoured.
    return Signer(salt=_SALT)
