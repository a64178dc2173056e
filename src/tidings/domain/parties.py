"""Turning the addresses of an email into activity parties.

An address that belongs to exactly one record resolves to it. One that belongs to several is
linked to all of them or left unresolved, as the organization chooses; one that belongs to
none stays unresolved (the service may create a contact for it first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tidings.domain.activity import ActivityParty, ParticipationRole
from tidings.domain.message import Address, HeaderSummary
from tidings.domain.records import RecordRef
from tidings.domain.settings import AmbiguousMatch


def addresses_by_role(
    headers: HeaderSummary,
) -> list[tuple[ParticipationRole, Address]]:
    """Every address of the email with the part it plays, duplicates within a role removed."""
    found: list[tuple[ParticipationRole, Address]] = []
    seen: set[tuple[ParticipationRole, str]] = set()
    groups: Sequence[tuple[ParticipationRole, Sequence[Address]]] = (
        (ParticipationRole.FROM, (headers.sender,) if headers.sender else ()),
        (ParticipationRole.TO, headers.to),
        (ParticipationRole.CC, headers.cc),
        (ParticipationRole.BCC, headers.bcc),
    )
    for role, addresses in groups:
        for address in addresses:
            if (role, address.address) not in seen:
                seen.add((role, address.address))
                found.append((role, address))
    return found


def resolve_parties(
    headers: HeaderSummary,
    matches: Mapping[str, Sequence[RecordRef]],
    ambiguous: AmbiguousMatch,
    owner: RecordRef,
    owner_address: str,
) -> list[ActivityParty]:
    """The parties of the email, the owner included, from the records each address matches."""
    parties = []
    for role, address in addresses_by_role(headers):
        records = sorted(set(matches.get(address.address, ())))
        if len(records) > 1 and ambiguous is AmbiguousMatch.UNRESOLVED:
            records = []
        if not records:
            parties.append(ActivityParty(role, address.address, address.name))
        parties.extend(ActivityParty(role, address.address, address.name, r) for r in records)
    parties.append(ActivityParty(ParticipationRole.OWNER, owner_address, "", owner))
    return parties


def unresolved_senders(parties: Sequence[ActivityParty], own_address: str) -> list[Address]:
    """Senders with no record, other than the mailbox's own address."""
    seen: dict[str, Address] = {}
    for party in parties:
        unknown = party.party is None and party.role is ParticipationRole.FROM
        if unknown and party.address != own_address:
            seen.setdefault(party.address, Address(party.name, party.address))
    return list(seen.values())
