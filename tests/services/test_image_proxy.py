"""webmail.services.image_proxy: only URLs we signed are fetched, with the settings' limits."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.signing import BadSignature
from django.test import override_settings

from webmail.protocols.remote_image import FetchedImage, ImageFetchError
from webmail.services import image_proxy
from webmail.services.image_proxy import (
    ImageProxyError,
    ImageProxyFetchFailed,
    ImageProxySignatureInvalid,
    image_proxy_fetch,
    image_proxy_url,
)

REMOTE = "https://news.example.com/hero.png?campaign=7&u=42"
PNG = FetchedImage(content_type="image/png", data=b"\x89PNG\r\n\x1a\n")


@pytest.fixture
def fetches(monkeypatch):
    """image_fetch replaced by a recorder: nothing here touches the network."""
    calls = []

    def image_fetch(url, **limits):
        calls.append((url, limits))
        return PNG

    monkeypatch.setattr(image_proxy, "image_fetch", image_fetch)
    return calls


def params(proxy_url: str) -> dict[str, str]:
    parts = urlsplit(proxy_url)
    assert parts.path == "/mail/image-proxy/"
    assert not parts.scheme and not parts.netloc
    return {name: values[0] for name, values in parse_qs(parts.query, strict_parsing=True).items()}


def test_it_round_trips_a_signed_url(fetches):
    query = params(image_proxy_url(REMOTE))

    assert query["url"] == REMOTE
    assert image_proxy_fetch(url=query["url"], sig=query["sig"]) == PNG
    assert [url for url, _limits in fetches] == [REMOTE]


@override_settings(
    IMAGE_PROXY_MAX_BYTES=1234, IMAGE_PROXY_TIMEOUT=3, IMAGE_PROXY_ALLOW_PRIVATE=["10.9.0.0/16"]
)
def test_it_fetches_with_the_limits_from_settings(fetches):
    query = params(image_proxy_url(REMOTE))

    image_proxy_fetch(url=query["url"], sig=query["sig"])

    assert fetches == [(REMOTE, {"max_bytes": 1234, "timeout": 3, "allow": ["10.9.0.0/16"]})]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda url, sig: ("https://evil.example/hero.png", sig),
        lambda url, sig: (url + "&x=1", sig),
        lambda url, sig: ("http://169.254.169.254/latest/meta-data/", sig),
        lambda url, sig: (url, sig[:-1] + ("A" if sig[-1] != "A" else "B")),
        lambda url, sig: (url, ""),
        lambda url, sig: (url, sig + ":" + sig),
        lambda url, sig: (url.rsplit("?", 1)[0], sig),
    ],
    ids=["other url", "appended", "metadata", "flipped sig", "empty sig", "sig with sep", "cut"],
)
def test_it_refuses_a_tampered_url_or_signature(fetches, tamper):
    query = params(image_proxy_url(REMOTE))
    url, sig = tamper(query["url"], query["sig"])

    with pytest.raises(ImageProxySignatureInvalid) as raised:
        image_proxy_fetch(url=url, sig=sig)

    assert isinstance(raised.value, BadSignature)
    assert isinstance(raised.value, ImageProxyError)
    assert fetches == []


def test_a_signature_for_one_url_does_not_vouch_for_url_plus_separator(fetches):
    # unsign() splits at the last ":"; a ":" smuggled into sig must not shift that split.
    signed_for = params(image_proxy_url(REMOTE + ":x"))["sig"]

    with pytest.raises(ImageProxySignatureInvalid):
        image_proxy_fetch(url=REMOTE, sig="x:" + signed_for)

    assert fetches == []


def test_signatures_are_bound_to_this_salt(fetches):
    from django.core.signing import Signer

    other_purpose = Signer(salt="postfach.inline-part").sign(REMOTE).rsplit(":", 1)[1]

    with pytest.raises(ImageProxySignatureInvalid):
        image_proxy_fetch(url=REMOTE, sig=other_purpose)


def test_it_does_not_accept_a_signature_made_with_another_key(fetches):
    with override_settings(SECRET_KEY="another-key-entirely-" + "x" * 40):
        foreign = params(image_proxy_url(REMOTE))["sig"]

    with pytest.raises(ImageProxySignatureInvalid):
        image_proxy_fetch(url=REMOTE, sig=foreign)


def test_a_failed_fetch_is_an_image_proxy_error(monkeypatch):
    def image_fetch(url, **limits):
        raise ImageFetchError("address not allowed")

    monkeypatch.setattr(image_proxy, "image_fetch", image_fetch)
    query = params(image_proxy_url("http://10.0.0.1/x.png"))

    with pytest.raises(ImageProxyFetchFailed, match="address not allowed") as raised:
        image_proxy_fetch(url=query["url"], sig=query["sig"])

    assert isinstance(raised.value, ImageProxyError)
