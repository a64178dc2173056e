"""The organization's email configuration settings, as D365's System Settings › Email tab."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

from tidings.domain.errors import ValidationError
from tidings.domain.tracked_category import DEFAULT_CATEGORY, check_category, imap_keyword


class EmailProcessing(enum.StrEnum):
    """How the organization processes email at all."""

    SERVER_SIDE_SYNC = "server_side_synchronization"
    NONE = "none"


class SyncMethod(enum.StrEnum):
    """How a mailbox's incoming or outgoing email is handled."""

    SERVER_SIDE_SYNC = "server_side_synchronization"
    NONE = "none"


class AmbiguousMatch(enum.StrEnum):
    """What to do when one address belongs to several records."""

    LINK_ALL = "link_all"
    UNRESOLVED = "unresolved"


#: D365's default list of blocked attachment extensions.
DEFAULT_BLOCKED_EXTENSIONS = frozenset(
    """ade adp app appref-ms asa ashx asmx asp bas bat cdx cer chm class cmd com config cpl crt
    csh dll exe fxp gadget hlp hta htr htw ida idc idq inf ins isp its jar js jse ksh lnk
    mad maf mag mam maq mar mas mat mau mav maw mda mdb mde mdt mdw mdz msc msh msh1 msh1xml
    msh2 msh2xml mshxml msi msp mst ops pcd pif prf prg printer ps1 ps1xml ps2 ps2xml psc1
    psc2 pst reg rem scf scr sct shb shs shtm shtml soap stm svg tmp url vb vbe vbs vsmacros
    vss vst vsw ws wsc wsf wsh xbap""".split()
)


@dataclass(frozen=True)
class TrackingTokenFormat:
    """The shape of D365's tracking token: a prefix then a fixed number of digits.

    ``CRM:0001001`` is the prefix ``CRM:``, one deployment digit, three user-number digits and
    three counter digits.
    """

    prefix: str = "CRM:"
    deployment_digits: int = 1
    user_digits: int = 3
    counter_digits: int = 3

    @property
    def total_digits(self) -> int:
        return self.deployment_digits + self.user_digits + self.counter_digits


@dataclass(frozen=True)
class EmailConfiguration:
    """Organization-wide settings that every tracking decision consults."""

    processing: EmailProcessing = EmailProcessing.SERVER_SIDE_SYNC
    default_incoming_method: SyncMethod = SyncMethod.SERVER_SIDE_SYNC
    default_outgoing_method: SyncMethod = SyncMethod.SERVER_SIDE_SYNC
    process_only_approved_mailboxes: bool = True
    use_tracking_token: bool = True
    tracking_token: TrackingTokenFormat = field(default_factory=TrackingTokenFormat)
    use_correlation: bool = True
    use_smart_matching: bool = False
    smart_matching_min_recipients: int = 2
    ambiguous_match: AmbiguousMatch = AmbiguousMatch.LINK_ALL
    track_between_users_as_two_activities: bool = False
    folder_level_tracking: bool = True
    max_attachment_kb: int = 5120
    blocked_extensions: frozenset[str] = DEFAULT_BLOCKED_EXTENSIONS
    #: Automatic replies, bounces, read receipts and bulk email are not tracked.
    skip_automated_email: bool = True
    #: A queue mailbox that users Bcc, Cc or forward email to, to track it ("BCC to CRM").
    tracking_address: str | None = None
    #: D365's "Tracked to Dynamics 365": written onto tracked email, and read back from it.
    use_tracked_category: bool = True
    tracked_category: str = DEFAULT_CATEGORY

    @property
    def tracked_keyword(self) -> str:
        """The IMAP keyword the tracked category maps to."""
        return imap_keyword(self.tracked_category)

    def evolve(self, **changes: object) -> EmailConfiguration:
        """A copy with ``changes`` applied and validated."""
        return check_configuration(replace(self, **changes))  # type: ignore[arg-type]


def check_configuration(config: EmailConfiguration) -> EmailConfiguration:
    """Reject settings D365 would refuse; return the configuration unchanged otherwise."""
    token = config.tracking_token
    if not token.prefix.strip():
        raise ValidationError("the tracking token prefix cannot be empty")
    if not 0 <= token.deployment_digits <= 2:
        raise ValidationError("deployment digits must be between 0 and 2")
    if not 1 <= token.user_digits <= 6 or not 1 <= token.counter_digits <= 9:
        raise ValidationError("user digits must be 1–6 and counter digits 1–9")
    if not 1 <= config.smart_matching_min_recipients <= 20:
        raise ValidationError("smart matching needs between 1 and 20 shared recipients")
    if not 0 <= config.max_attachment_kb <= 131072:
        raise ValidationError("the maximum attachment size must be between 0 and 131072 KB")
    check_category(config.tracked_category)
    return config
