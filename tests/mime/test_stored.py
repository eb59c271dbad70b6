"""The page data kept with a rendered body (webmail.mime.stored) gives back, after a trip
through JSON, the message as its page shows it: every fixture, hostile ones included."""

import dataclasses
import json
from pathlib import Path

import pytest

from webmail.mime.parse import message_parse
from webmail.mime.stored import page_data_dump, page_data_load

FIXTURE_MAIL = Path(__file__).parent.parent / "fixtures" / "mail"


@pytest.mark.parametrize("path", sorted(FIXTURE_MAIL.glob("*.eml")), ids=lambda p: p.name)
def test_it_gives_back_what_the_page_shows(path):
    parsed = message_parse(path.read_bytes())

    loaded = page_data_load(json.loads(json.dumps(page_data_dump(parsed))))

    assert loaded == dataclasses.replace(parsed, text_body=None, html_body=None)
    assert [getattr(p, "template", p) for p in loaded.problems] == [
        getattr(p, "template", p) for p in parsed.problems
    ]


def test_data_of_another_version_is_not_read():
    parsed = message_parse((FIXTURE_MAIL / "01-plain-text.eml").read_bytes())
    data = page_data_dump(parsed) | {"version": 0}

    assert page_data_load(data) is None
    assert page_data_load(None) is None
