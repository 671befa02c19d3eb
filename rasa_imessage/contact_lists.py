"""Who the bot answers: `allowed_contacts` and `blocked_contacts`.

A bot in testing answers only its team; a bot in production stops answering someone who
abuses it. Entries match the way LoopMessage normalises contacts: a phone number by its
digits, country code included ("+1 (323) 111-2233" is "+13231112233"), an Apple ID email
whatever its case, `*@example.com` a whole email domain, and `group:<id>` one group chat.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, FrozenSet, Iterable, Optional, Set

from .coercion import ConfigError, as_str

__all__ = ["ContactList", "as_contact_list", "as_contacts", "refusal"]

_GROUP = "group:"
_PHONE = re.compile(r"\+?[0-9 ().\-]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_DOMAIN = re.compile(r"\*?@([^@\s*]+)")
# E.164: at most 15 digits; fewer than 7 is no number LoopMessage delivers to.
_MIN_DIGITS, _MAX_DIGITS = 7, 15


def _digits(contact: str) -> str:
    return "".join(char for char in contact if char.isdigit())


@dataclass(frozen=True)
class ContactList:
    """Contacts, email domains and groups, each kept in the form it is compared in.

    Its repr counts the entries and shows none: contacts never reach a log line.
    """

    phones: FrozenSet[str] = frozenset()  # digits only
    emails: FrozenSet[str] = frozenset()  # lower case
    domains: FrozenSet[str] = frozenset()  # lower case, without the "@"
    groups: FrozenSet[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.phones or self.emails or self.domains or self.groups)

    def __repr__(self) -> str:
        counts = (("phones", self.phones), ("emails", self.emails),
                  ("domains", self.domains), ("groups", self.groups))  # fmt: skip
        return "ContactList(" + ", ".join(f"{len(items)} {name}" for name, items in counts) + ")"

    def has_contact(self, contact: Optional[str]) -> bool:
        """Whether a webhook's `contact` (E.164 or a lower-case email) is on the list."""
        if not contact:
            return False
        if "@" in contact:
            email = contact.strip().lower()
            return email in self.emails or email.rpartition("@")[2] in self.domains
        return _digits(contact) in self.phones

    def has_group(self, group_id: Optional[str]) -> bool:
        return bool(group_id) and group_id in self.groups


def refusal(
    contact: Optional[str],
    group_id: Optional[str],
    allowed: Optional[ContactList],
    blocked: Optional[ContactList],
) -> Optional[str]:
    """Why the bot does not answer what `contact` did (in the group `group_id`, if any), or
    None when it does. A list that is None is not set: no one blocked, everyone allowed.

    Blocked wins: a blocked contact is ignored in every group too, and so is everyone in a
    blocked group. With an allow list, a message is answered when its contact or its group
    is on it.
    """
    if blocked is not None and (blocked.has_contact(contact) or blocked.has_group(group_id)):
        return "blocked_contacts"
    if allowed is None or allowed.has_contact(contact) or allowed.has_group(group_id):
        return None
    return "not in allowed_contacts"


def as_contacts(key: str, value: Any) -> ContactList:
    """A credentials list (YAML list or comma list) of contacts, checked entry by entry."""
    if isinstance(value, ContactList):
        return value
    if isinstance(value, str):
        entries: Iterable[str] = (part.strip() for part in value.split(","))
    elif isinstance(value, (list, tuple)):
        entries = (as_str(key, item).strip() for item in value)
    else:
        raise ConfigError(
            f"credentials key '{key}': expected a list of phone numbers, emails, "
            "*@domains or group:<id>s"
        )
    phones: Set[str] = set()
    emails: Set[str] = set()
    domains: Set[str] = set()
    groups: Set[str] = set()
    for entry in entries:
        if not entry:
            continue
        if entry.startswith(_GROUP) and entry[len(_GROUP) :].strip():
            groups.add(entry[len(_GROUP) :].strip())
        elif _DOMAIN.fullmatch(entry):
            domains.add(entry.rpartition("@")[2].lower())
        elif _EMAIL.fullmatch(entry):
            emails.add(entry.lower())
        elif _PHONE.fullmatch(entry) and _digits(entry).startswith("0"):
            # No country code starts with 0: this is a national number, which would never
            # match the E.164 contact LoopMessage sends.
            raise ConfigError(
                f"credentials key '{key}': {entry!r} is a national number; write it with its "
                "country code and without the leading 0 (+44 7700 900123, not 07700 900123)"
            )
        elif _PHONE.fullmatch(entry) and _MIN_DIGITS <= len(_digits(entry)) <= _MAX_DIGITS:
            phones.add(_digits(entry))
        else:
            raise ConfigError(
                f"credentials key '{key}': {entry!r} is not a phone number with its country "
                "code (+13231112233), an email, *@domain or group:<id>"
            )
    return ContactList(frozenset(phones), frozenset(emails), frozenset(domains),
                       frozenset(groups))  # fmt: skip


def as_contact_list(key: str, value: Any) -> Optional[ContactList]:
    """A list for `allowed_contacts` or `blocked_contacts`; an empty one is None, as no key
    is: an empty `${VAR}` never leaves a bot answering nobody, and with neither list set a
    webhook's check is two `is None` tests."""
    contacts = as_contacts(key, value)
    return contacts if contacts else None
