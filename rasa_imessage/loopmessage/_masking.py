"""Contacts in log lines: enough to tell conversations apart, not enough to identify anyone.

Phone numbers and Apple IDs are personal data. Every log line of the connector that names a
contact goes through `mask_contact`, at INFO and above alike.
"""

from __future__ import annotations

__all__ = ["mask_contact"]


def mask_contact(contact: str | None) -> str:
    """A contact fit for a log line: `+1•••1234`, `j•••@icloud.com`, `2B•••9C`."""
    if not contact:
        return "<none>"
    if "@" in contact:
        local, _, domain = contact.rpartition("@")
        return f"{local[:1]}•••@{domain}"
    digits = "".join(char for char in contact if char.isdigit())
    if len(digits) >= 7 and not contact.strip("+ ()-.0123456789"):
        plus = "+" if contact.lstrip().startswith("+") else ""
        return f"{plus}{digits[0]}•••{digits[-4:]}"
    return f"{contact[:2]}•••{contact[-2:]}" if len(contact) >= 8 else "•••"
