"""Conversations: messages grouped by their reference headers, pure and without the ORM.

A simplified JWZ threading (https://www.jwz.org/doc/threading.html): we need which
messages belong together, not the reply tree, so the tree becomes a union-find over
message ids, near linear in the number of messages.

1. A message joins every id it names: its own Message-ID, In-Reply-To and the nearest
   MAX_REFERENCES of its References (a parent that is missing still links its replies,
   as JWZ's empty containers do).
2. Only a message without any reference header falls back to its subject, and only when
   the subject carries a reply or forward prefix ("AW: Sommerfest"), as Thunderbird does
   by default: mailers that drop the headers still mark a reply in the subject, while
   two unrelated mails both called "Hello" must not become one conversation. It joins
   the conversation holding a message with the same subject that is not newer than
   itself, else the oldest such one; a subject never merges two linked conversations.
3. Callers bound the input (a few hundred candidates of one message, a window of a
   folder's newest messages), so no step is quadratic in anything the sender controls.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from webmail.compose.reply import subject_base

MAX_REFERENCES = 20  # the nearest ancestors; longer chains add nothing but work
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class ThreadItem:
    """What threading needs of one message; `key` identifies it for the caller."""

    key: Hashable
    message_id: str = ""
    in_reply_to: str = ""
    references: Sequence[str] = ()
    subject: str = ""
    date: datetime | None = None

    @property
    def has_references(self) -> bool:
        return bool(self.in_reply_to or self.references)


@dataclass
class Conversation:
    items: list[ThreadItem] = field(default_factory=list)  # oldest first

    @property
    def newest(self) -> ThreadItem:
        return self.items[-1]


def subject_key(subject: str) -> str:
    """The subject as conversations compare it: without reply and forward prefixes
    (the ones replies strip, webmail.compose.reply), case and runs of spaces."""
    return subject_parts(subject)[0]


@lru_cache(maxsize=4096)  # a folder's subjects repeat (every reply); folding them is not free
def subject_parts(subject: str) -> tuple[str, bool]:
    """The subject's key, and whether it carried a reply or forward prefix."""
    base = subject_base(subject)
    key = _SPACES.sub(" ", base).casefold().strip()
    return key, bool(subject) and base != " ".join(subject.split())


def references_split(text: str) -> list[str]:
    """The index keeps References as space-separated ids."""
    return text.split()


class _Groups:
    """Union-find over strings, with path halving."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, node: str) -> str:
        parent = self.parent
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def union(self, a: str, b: str) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self.parent[root_b] = root_a


def _sort_key(item: ThreadItem) -> tuple:
    # Undated messages sort first, as the oldest we know nothing about.
    return (item.date is not None, item.date or datetime.min, str(item.key))


def threads_build(items: Iterable[ThreadItem]) -> list[Conversation]:
    """The conversations of `items`, each oldest first, newest conversation first."""
    groups = _Groups()
    items = list(items)
    nodes: list[str] = []
    for number, item in enumerate(items):
        # A message without Message-ID (or a copy of one, in Sent and INBOX) still needs
        # a node of its own: a key no header can spell.
        node = f"\0{number}"
        groups.find(node)
        names = [item.message_id, item.in_reply_to, *list(item.references)[-MAX_REFERENCES:]]
        for name in names:
            if name:
                groups.union(node, "<" + name.strip("<>") + ">")
        nodes.append(node)

    # 2. Subject fallback, oldest first, so "the latest not newer than itself" is simply
    # the last one seen so far.
    by_subject: dict[str, list[str]] = {}  # subject key -> nodes, oldest first
    order = sorted(range(len(items)), key=lambda n: _sort_key(items[n]))
    waiting: list[tuple[str, str]] = []  # header-less replies older than every match
    for number in order:
        item, node = items[number], nodes[number]
        key, reply = subject_parts(item.subject)
        if not key:
            continue
        fallback = reply and not item.has_references
        seen = by_subject.setdefault(key, [])
        if fallback and seen:
            groups.union(seen[-1], node)
        elif fallback:
            waiting.append((key, node))
        seen.append(node)
    # Older than every match (a skewed clock): the oldest message that has the subject of
    # its own right, else the oldest header-less one.
    waiting_nodes = {node for _key, node in waiting}
    targets: dict[str, str] = {}
    for key, node in waiting:
        if key not in targets:
            own = (n for n in by_subject[key] if n not in waiting_nodes)
            targets[key] = next(own, by_subject[key][0])
        groups.union(targets[key], node)

    conversations: dict[str, Conversation] = {}
    for number in order:
        root = groups.find(nodes[number])
        conversations.setdefault(root, Conversation()).items.append(items[number])
    return sorted(conversations.values(), key=lambda c: _sort_key(c.newest), reverse=True)
