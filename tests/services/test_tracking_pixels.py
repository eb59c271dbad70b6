"""Known trackers are never loaded, even when the reader shows remote images (issue 6,
"Hardening"): the rendered body gives them no source, and the proxy refuses them even with
a valid signature."""

import re

import pytest
from django.core.signing import Signer

from webmail.protocols.remote_image import FetchedImage
from webmail.sanitize import html_sanitize
from webmail.services import image_proxy
from webmail.services.image_proxy import (
    ImageProxyFetchFailed,
    image_is_tracker,
    image_proxy_fetch,
    image_proxy_url,
)

TRACKERS = [
    "https://example.us5.list-manage.com/track/open.php?u=1&id=2&e=3",
    "https://mailtrack.io/trace/mail/abc.png",
    "http://t.sidekickopen.com/e1t/o/5/abc",
    "https://u123.ct.sendgrid.net/wf/open?upn=abc",
    "https://news.shop.example/track/open/abc.gif",
    "https://pixel.wp.com/t.gif?blog=1",
    "https://www.google-analytics.com/collect?v=1&t=event",
    "https://R.SUPERHUMAN.COM./abc.gif",
]
PICTURES = [
    "https://images.example/banner.png",
    "https://cdn.shop.example/products/open-day.jpg",
    "https://example.com/openpixels-gallery/cat.jpg",
    "https://facebook-fan.example/logo.png",
]


@pytest.mark.parametrize("url", TRACKERS)
def test_it_knows_the_common_trackers(url):
    assert image_is_tracker(url)


@pytest.mark.parametrize("url", PICTURES)
def test_it_leaves_pictures_alone(url):
    assert not image_is_tracker(url)


def test_a_shown_message_loads_pictures_through_the_proxy_and_no_trackers():
    body = "".join(f'<img src="{url}" alt="x">' for url in TRACKERS + PICTURES)
    html = html_sanitize(
        body, inline_image_url=lambda content_id: None, remote_image_url=image_proxy_url
    ).html
    sources = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert len(sources) == len(PICTURES)
    assert all(src.startswith("/mail/image-proxy/?url=") for src in sources)
    for url in TRACKERS:
        assert url.split("/")[2].lower().rstrip(".") not in html.lower()


def test_the_proxy_refuses_a_tracker_even_with_a_valid_signature(monkeypatch):
    fetched = []
    monkeypatch.setattr(
        image_proxy,
        "image_fetch",
        lambda url, **limits: fetched.append(url) or FetchedImage("image/gif", b"GIF89a"),
    )
    url = TRACKERS[0]
    signature = Signer(salt="postfach.image-proxy").sign(url).rsplit(":", 1)[1]
    with pytest.raises(ImageProxyFetchFailed):
        image_proxy_fetch(url=url, sig=signature)
    assert fetched == []
