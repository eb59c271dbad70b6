"""Conversations from message summaries (webmail.threads), with literal headers."""

from datetime import UTC, datetime, timedelta

from webmail.threads import ThreadItem, subject_key, threads_build

START = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _item(key, day=0, *, mid="", irt="", refs=(), subject="Sommerfest"):
    return ThreadItem(
        key=key,
        message_id=mid,
        in_reply_to=irt,
        references=tuple(refs),
        subject=subject,
        date=START + timedelta(days=day),
    )


def _keys(items) -> list[list[str]]:
    return [[item.key for item in conversation.items] for conversation in threads_build(items)]


def test_it_groups_replies_by_in_reply_to_and_references_oldest_first():
    items = [
        _item("answer", 1, mid="b@x", irt="a@x", refs=["a@x"], subject="Re: Sommerfest"),
        _item("other", 3, mid="z@x", subject="Rechnung"),
        _item("root", 0, mid="a@x"),
        _item("answer-2", 2, mid="c@x", refs=["a@x", "b@x"], subject="AW: Re: Sommerfest"),
    ]
    assert _keys(items) == [["other"], ["root", "answer", "answer-2"]]


def test_replies_to_a_missing_message_still_belong_together():
    items = [
        _item("one", 1, mid="b@x", irt="gone@x", refs=["gone@x"]),
        _item("two", 2, mid="c@x", refs=["gone@x", "b@x"]),
    ]
    assert _keys(items) == [["one", "two"]]


def test_a_reply_without_reference_headers_joins_by_its_subject():
    items = [
        _item("root", 0, mid="a@x", subject="Sommerfest"),
        _item("plain-reply", 1, mid="p@x", subject="AW:  sommerFEST"),
        _item("newer-root", 5, mid="n@x", subject="Sommerfest"),
        _item("late-reply", 6, mid="q@x", subject="Re: Sommerfest"),
    ]
    # Each header-less reply joins the latest conversation of that subject before it.
    assert _keys(items) == [["newer-root", "late-reply"], ["root", "plain-reply"]]


def test_equal_subjects_without_a_reply_prefix_stay_apart():
    items = [_item("a", 0, mid="a@x", subject="Hallo"), _item("b", 1, mid="b@x", subject="Hallo")]
    assert _keys(items) == [["b"], ["a"]]


def test_a_subject_never_joins_two_linked_conversations():
    """A message with reference headers is placed by them alone, whatever its subject."""
    items = [
        _item("root", 0, mid="a@x"),
        _item("linked", 1, mid="b@x", irt="elsewhere@x", subject="Re: Sommerfest"),
    ]
    assert _keys(items) == [["linked"], ["root"]]


def test_a_reply_older_than_its_subject_still_finds_it():
    items = [
        _item("early-reply", 0, mid="r@x", subject="Fwd: Sommerfest"),
        _item("root", 1, mid="a@x", subject="Sommerfest"),
    ]
    assert _keys(items) == [["early-reply", "root"]]


def test_copies_and_messages_without_message_id_are_kept_each():
    items = [
        _item("inbox-copy", 0, mid="a@x"),
        _item("sent-copy", 0, mid="a@x"),
        _item("no-id", 1, irt="a@x"),
        _item("lonely", 2, subject=""),
    ]
    assert _keys(items) == [["lonely"], ["inbox-copy", "sent-copy", "no-id"]]


def test_brackets_do_not_matter():
    items = [_item("root", 0, mid="a@x"), _item("reply", 1, mid="b@x", irt="<a@x>")]
    assert _keys(items) == [["root", "reply"]]


def test_the_subject_key_strips_prefixes_case_and_spaces():
    assert subject_key("AW: Re[2]: WG:  Grüße  aus\tMünchen") == "grüsse aus münchen"
    assert subject_key("Re:") == ""


def test_a_big_folder_groups_by_references_not_by_the_shared_subject():
    """20,000 messages in 2,000 conversations, all about "Bericht"."""
    items = []
    for n in range(20_000):
        root, depth = n % 2000, n // 2000
        refs = [f"{root}.{d}@x" for d in range(depth)]
        subject = "Re: Bericht" if depth else "Bericht"
        items.append(_item(n, n, mid=f"{root}.{depth}@x", refs=refs, subject=subject))
    conversations = threads_build(items)
    assert len(conversations) == 2000
    assert all(len(c.items) == 10 for c in conversations)
