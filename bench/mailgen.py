"""Generate deterministic (seeded), realistic business emails as raw bytes for benchmarks."""

from __future__ import annotations

import base64
import email
import email.policy
import functools
import html
import re
import statistics
import time
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, formataddr
from random import Random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import override
else:  # standard library only at run time

    def override(method):  # noqa: ANN001, ANN201
        return method


@dataclass(frozen=True)
class Correspondent:
    """A display name and an email address."""

    name: str
    address: str


# Word pools are "|"-separated strings (or whitespace-separated) to keep the file short.
_FIRST = (
    "Anna Ben Carla David Elena Farid Grace Hiro Ines Jonas Katrin Liam Maria Nikolai Olivia "
    "Pedro Quinn Rosa Samir Tanja Umar Vera William Xenia Yusuf Zoë José Chloé Björn"
).split()
_LAST = (
    "Schmidt Okafor Nguyen García Rossi Kowalski Johnson Müller Tanaka Larsen O'Brien Dubois "
    "Silva Patel Novak Fischer Cohen Andersson Moreau Haddad Kim Murphy Costa Weber Yilmaz Brown"
).split()
_COMPANIES = (
    "Acme Corp|Globex|Initech|Umbrella Logistics|Stark Components|Northwind Traders|Contoso|"
    "Fabrikam|Tailspin Toys|Litware|Proseware|Adventure Works|Coho Vineyard|Wide World Importers|"
    "Lucerne Publishing|Alpine Ski House|Fourth Coffee|Blue Yonder Freight"
).split("|")
_TLDS = ("example.com", "example.org", "example.test")
_FREEMAIL = ("mail.example.org", "webpost.example.test", "inbox.example.com")
_TITLES = (
    "Account Manager|Head of Procurement|Operations Lead|Sales Engineer|Finance Controller|"
    "Customer Success Manager|Project Manager|CTO"
).split("|")
_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_PRODUCTS = (
    "industrial pressure sensor|annual support plan|M12 connector kit|replacement filter cartridge|"
    "onboarding workshop (2 days)|LED panel 60x60|cloud storage add-on, 1 TB"
    "|hydraulic hose assembly|thermal label printer|pallet rack upright|calibration service"
    "|stainless fitting set"
).split("|")
_CITIES = "Rotterdam Lyon Hamburg Leeds Milan Gdansk Porto Aarhus".split()
_TOPIC_TEXT = {  # topic: (subject templates, attachment file stems, sentence clauses)
    "quote": (
        "Quote Q-2026-{n} for {product}|Updated pricing for {co}|Request for quote: {product}"
        "|Proposal {month} - {co}",
        "Quote_Q-2026-{n}|Pricing_{slug}|Proposal_v{v}",
        "the attached quote covers {qty} units of the {product} at the agreed volume tier."
        "|pricing is valid for 30 days and includes delivery to your {city} warehouse."
        "|we can offer a further 4% discount if the order is confirmed by {day} {month}."
        "|lead time for the {product} is currently three to four weeks from order."
        "|the quote excludes installation, which we can price separately if needed.",
    ),
    "invoice": (
        "Invoice INV-{n} from {co}|Payment reminder: INV-{n}|Remittance advice {month}"
        "|Outstanding balance on account {n}",
        "Invoice_INV-{n}|Statement_{month}|Remittance_{n}",
        "invoice INV-{n} for {amount} EUR was due on {day} {month}."
        "|could you let us know when the payment is scheduled to go out?"
        "|our records show a partial payment, leaving {amount} EUR outstanding."
        "|please reference the invoice number on the bank transfer so we can match it."
        "|the credit note for the returned {product} has been applied to your account.",
    ),
    "meeting": (
        "Meeting notes: {co} quarterly review|Agenda for {day} {month}|Follow-up from today's call"
        "|Workshop planning - {month}",
        "Meeting_notes_{month}|Agenda_{day}_{month}|Action_items",
        "thanks again for taking the time to meet with us on {day} {month}."
        "|the main action item on our side is to share the revised rollout plan."
        "|we agreed to revisit the {product} requirements in the next session."
        "|would {day} {month} at 10:00 CET work for a follow-up call?"
        "|I have summarised the decisions and open questions below for the team.",
    ),
    "support": (
        "Case #{n}: {product} not responding|Support ticket {n} update|Escalation: case {n}"
        "|Issue with the {product} after the firmware update",
        "screenshot_{n}|Case_{n}_details|error_log_{day}_{month}",
        "our engineers have reproduced the issue with the {product} in the lab."
        "|could you send us the serial number and a photo of the status display?"
        "|a replacement unit has been dispatched and should arrive by {day} {month}."
        "|the fault appears after roughly {qty} operating hours under high load."
        "|we will keep case #{n} open until you confirm the fix works on site.",
    ),
    "order": (
        "Order confirmation PO-{n}|Purchase order {n} - {co}|Delivery schedule for PO-{n}"
        "|Change to order {n}",
        "PO-{n}|Order_confirmation_{n}|Delivery_note_{n}",
        "we are pleased to confirm purchase order PO-{n} for {qty} units."
        "|the first partial shipment leaves our {city} depot on {day} {month}."
        "|please update the delivery address on PO-{n} to the new loading dock."
        "|the {product} is back-ordered, so we propose to ship the rest separately."
        "|tracking numbers will follow as soon as the carrier has collected the goods.",
    ),
}
_TOPICS = {topic: tuple(part.split("|") for part in parts) for topic, parts in _TOPIC_TEXT.items()}
_GENERIC = (
    "let me know if anything is unclear or if you need further details."
    "|I have copied {colleague} so they can follow along."
    "|we are aiming to close this out before the end of {month}."
    "|our finance team will need the purchase order number for their records."
    "|happy to jump on a short call if that is easier than going back and forth by email."
    "|I will be out of the office from {day} {month}, so {colleague} will cover for me."
    "|the figures are based on last quarter's volumes and may shift slightly."
    "|we appreciate your patience while we sorted this out internally."
).split("|")
_LEAD_INS = (
    "As discussed on our call, |Following up on my last email, |Just to confirm, |As requested, "
    "|Quick update: |On a related note, |To keep things moving, |For your records, "
    "|In the meantime, |As a heads-up, "
).split("|")
_GREETINGS = ("Hi {first},", "Hello {first},", "Dear {name},", "Good morning {first},", "{first},")
_CLOSINGS = ("Best regards,", "Kind regards,", "Thanks,", "Many thanks,", "Cheers,", "Regards,")
_MAILERS = (  # "" = no X-Mailer (webmail)
    "Microsoft Outlook 16.0|Microsoft Outlook 16.0|Microsoft Outlook 15.0"
    "|Apple Mail (2.3826.400.131)|Mozilla Thunderbird 128.6.0|iPhone Mail (22D72)|Zimbra 10.1.4||"
).split("|")
_DISCLAIMER = (
    "CONFIDENTIALITY NOTICE: This email and any attachments are confidential and intended solely "
    "for the addressee. If you have received it in error, please notify the sender and delete "
    "it. Any unauthorised use or disclosure is prohibited."
)
_TZS = tuple(timezone(timedelta(hours=h)) for h in (0, 1, 2, -5, -8, 5.5, 9))
_Kind = tuple[str, str, str, bytes, int]  # extension, maintype, subtype, magic, median size
_OOXML = "vnd.openxmlformats-officedocument."
_ATTACHMENTS: tuple[_Kind, ...] = (  # median sizes tuned for a ~35 KB mean message size
    ("pdf", "application", "pdf", b"%PDF-1.7\n", 84_000),
    ("pdf", "application", "pdf", b"%PDF-1.7\n", 84_000),
    ("xlsx", "application", _OOXML + "spreadsheetml.sheet", b"PK\3\4", 32_000),
    ("docx", "application", _OOXML + "wordprocessingml.document", b"PK\3\4", 38_000),
    ("png", "image", "png", b"\x89PNG\r\n\x1a\n", 105_000),
    ("csv", "text", "csv", b"", 11_000),
)
_BLOCKED: tuple[_Kind, ...] = (
    ("exe", "application", "x-msdownload", b"MZ\x90\0", 45_000),
    ("js", "application", "javascript", b"", 4_000),
)


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


_COMPANY_BY_DOMAIN = {f"{_slug(c)}.{_TLDS[i % 3]}": c for i, c in enumerate(_COMPANIES)}


class _RawHeaderPolicy(EmailPolicy):
    """SMTP policy keeping pre-folded ASCII header strings as given, as the parser does.

    The stdlib otherwise parses each assigned header into an object and refolds it on output,
    which was most of the generation time. Content-* headers, which the email package reads
    back repeatedly, and non-ASCII values still go the normal way; over-long lines get refolded.
    """

    @override
    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if (
            isinstance(value, str)
            and not name.lower().startswith("content-")
            and value.isascii()
            and all(ln[:1] == " " for ln in value.splitlines()[1:])
        ):
            return (name, value)
        return super().header_store_parse(name, value)


class _CachedRegistry(HeaderRegistry):
    """The stdlib registry builds a new header class on every lookup; reuse them."""

    @override
    @functools.cache  # noqa: B019  # one module-level instance, kept for the process anyway
    def __getitem__(self, name: str) -> type[BaseHeader]:
        return super().__getitem__(name.lower())


_POLICY = _RawHeaderPolicy(linesep="\r\n", header_factory=_CachedRegistry())


def make_people(
    n_contacts: int, n_strangers: int, seed: int = 1
) -> tuple[list[Correspondent], list[Correspondent]]:
    """Return (CRM contacts, strangers) with plausible names and disjoint addresses."""
    rng, used = Random(seed), set[str]()
    domains = list(_COMPANY_BY_DOMAIN)
    split = len(domains) * 2 // 3

    def person(domains: Sequence[str]) -> Correspondent:
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        f, la = _slug(first), _slug(last).replace("-", "")
        local = rng.choice((f"{f}.{la}", f"{f[0]}{la}", f, f"{f}_{la}"))
        domain = rng.choice(domains)
        address, n = f"{local}@{domain}", 1
        while address in used:
            n += 1
            address = f"{local}{n}@{domain}"
        used.add(address)
        return Correspondent(f"{first} {last}", address)

    return (
        [person(domains[:split]) for _ in range(n_contacts)],
        [person([*domains[split:], *_FREEMAIL]) for _ in range(n_strangers)],
    )


def mean_size(mails: Sequence[bytes]) -> float:
    """Mean size of raw messages in bytes (0.0 for none)."""
    return sum(map(len, mails)) / len(mails) if mails else 0.0


def _addrs(people: Sequence[Correspondent]) -> str:
    """An address list, folded one address a line when long (names RFC 2047 encoded)."""
    joined = ", ".join(addrs := [formataddr((p.name, p.address), "utf-8") for p in people])
    return joined if len(joined) < 64 else ",\n ".join(addrs)


def _sku(product: str) -> str:
    return f"SKU-{1000 + 37 * _PRODUCTS.index(product)}"


def _wrap(text: str, width: int = 76) -> list[str]:
    lines, line = list[str](), ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line] if line else lines


class _Generator:
    def __init__(
        self,
        rng: Random,
        seed: int,
        owner: Correspondent,
        contacts: Sequence[Correspondent],
        strangers: Sequence[Correspondent],
    ) -> None:
        self.rng, self.seed, self.owner = rng, seed, owner
        self.contacts, self.strangers = contacts or strangers, strangers or contacts
        self.everyone = [p for p in (*contacts, *strangers) if p.address != owner.address]

    def prose(self, topic: str, ctx: dict[str, str], paragraphs: int) -> list[str]:
        """Paragraphs of distinct sentences: topic-specific first, generic ones towards the end."""
        rng, clauses = self.rng, list(_TOPICS[topic][2])
        rng.shuffle(clauses)
        clauses += rng.sample(_GENERIC, len(_GENERIC))
        leads, out = rng.sample(_LEAD_INS, len(_LEAD_INS)), list[str]()
        for _ in range(paragraphs):
            sentences = []
            for clause in clauses[: rng.randint(2, 4)]:
                text = clause.format(**ctx)
                lead = leads.pop() if leads and rng.random() < 0.35 and text[-1] == "." else ""
                sentences.append(lead + text if lead else text[0].upper() + text[1:])
            del clauses[: len(sentences)]
            out += [" ".join(sentences)] if sentences else []
        return out

    def attachment(self, kind: _Kind) -> bytes:
        ext, _, _, magic, median = kind
        rng = self.rng
        size = min(4_000_000, max(800, int(median * rng.lognormvariate(0, 0.9))))
        if ext == "csv":
            rows, length = ["date,sku,description,qty,unit_price\n"], 0
            while length < size:
                rows.append(
                    f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d},SKU-"
                    f'{rng.randint(1000, 9999)},"{rng.choice(_PRODUCTS)}",'
                    f"{rng.randint(1, 99)},{rng.uniform(1, 900):.2f}\n"
                )
                length += len(rows[-1])
            return "".join(rows).encode()
        if ext == "js":
            return b"var _0x='" + rng.randbytes(size // 2).hex().encode() + b"';eval(_0x);"
        return magic + rng.randbytes(size - len(magic))

    def mail(self, index: int, parent_id: str | None) -> bytes:
        rng, owner = self.rng, self.owner
        sender = rng.choice(self.contacts if rng.random() < 0.6 else self.strangers)
        picks = rng.sample(self.everyone, min(len(self.everyone), 5))
        others = [p for p in picks if p.address != sender.address]
        extra, cc = others[: rng.randint(0, 3)], others[3:4] if rng.random() < 0.25 else []
        to, cc = (extra, [owner, *cc]) if extra and rng.random() < 0.15 else ([owner, *extra], cc)
        topic = rng.choice(tuple(_TOPICS))
        when = datetime(2026, 1, 1, tzinfo=rng.choice(_TZS)) + timedelta(
            seconds=rng.randrange(365 * 86400)
        )
        domain = sender.address.partition("@")[2]
        company = _COMPANY_BY_DOMAIN.get(domain, "")
        ctx = {
            "n": str(rng.randint(10000, 99999)),
            "product": rng.choice(_PRODUCTS),
            "co": company or rng.choice(_COMPANIES),
            "month": rng.choice(_MONTHS),
            "day": str(rng.randint(1, 28)),
            "qty": str(rng.randint(5, 900)),
            "amount": f"{rng.uniform(300, 90000):,.2f}",
            "city": rng.choice(_CITIES),
            "colleague": rng.choice(self.everyone or [owner]).name.split()[0],
            "slug": _slug(company or "client"),
            "v": str(rng.randint(1, 6)),
        }
        subject = rng.choice(_TOPICS[topic][0]).format(**ctx)
        r = rng.random()
        prefix = (
            "Re: " if parent_id or r < 0.15 else "RE: " if r < 0.2 else "Fwd: " if r < 0.25 else ""
        )
        quoted_from = rng.choice([owner, *to[1:]])
        quote = self.prose(topic, ctx, rng.randint(1, 2)) if prefix else []
        stamp = f"{when - timedelta(days=rng.randint(1, 9)):%a, %d %b %Y at %H:%M}"
        greeting = rng.choice(_GREETINGS).format(first=to[0].name.split()[0], name=to[0].name)
        paras = self.prose(topic, ctx, rng.randint(2, 4))
        priced = topic in ("quote", "invoice", "order") and rng.random() < 0.5
        items = [
            (rng.choice(_PRODUCTS), rng.randint(1, 250), round(rng.uniform(4, 2500), 2))
            for _ in range(rng.randint(2, 8) if priced else 0)
        ]
        sig = [
            sender.name,
            *([f"{rng.choice(_TITLES)} | {company}"] if company else []),
            f"Phone: +{rng.choice((31, 33, 44, 49))} 20 555 {rng.randint(1000, 9999)}",
            *([f"https://www.{domain}"] if company else []),
        ]
        disclaimer, closing = company != "" and rng.random() < 0.3, rng.choice(_CLOSINGS)

        plain = [greeting, "", *(ln for p in paras for ln in [*_wrap(p), ""])]
        if items:
            plain.append(f"{'Item':<10} {'Description':<30} {'Qty':>5} {'Unit':>10} {'Total':>12}")
            plain += [
                f"{_sku(d):<10} {d:<30} {q:>5} {u:>10.2f} {q * u:>12.2f}" for d, q, u in items
            ]
            plain += [f"{'Total':<58}{sum(q * u for _, q, u in items):>12.2f}", ""]
        plain += [closing, "", "-- ", *sig, *(["", *_wrap(_DISCLAIMER)] if disclaimer else [])]
        if prefix == "Fwd: ":
            plain += [
                "",
                "---------- Forwarded message ---------",
                f"From: {quoted_from.name} <{quoted_from.address}>",
                f"Date: {stamp}",
                f"Subject: {subject}",
                "",
                *(ln for q in quote for ln in [*_wrap(q), ""]),
            ]
        elif quote:
            plain += ["", f"On {stamp}, {quoted_from.name} <{quoted_from.address}> wrote:"]
            plain += [ln for q in quote for ln in [*("> " + w for w in _wrap(q, 72)), ">"]]

        msg = EmailMessage(policy=_POLICY)
        msg["From"], msg["To"] = _addrs([sender]), _addrs(to)
        if cc:
            msg["Cc"] = _addrs(cc)
        msg["Subject"], msg["Date"] = prefix + subject, format_datetime(when)
        # make_msgid()'s shape, but seeded: make_msgid reads the clock and the global RNG
        token = f"{when:%Y%m%d%H%M%S}.{self.seed}.{index}.{rng.getrandbits(48):012x}"
        msg["Message-ID"] = f"<{token}@{domain}>"
        if parent_id:
            parent_id = parent_id if parent_id.startswith("<") else f"<{parent_id}>"
            ancestor = [f"<{rng.getrandbits(64):016x}@{domain}>"] if rng.random() < 0.3 else []
            msg["In-Reply-To"], msg["References"] = parent_id, " ".join([*ancestor, parent_id])
        mailer = rng.choice(_MAILERS)
        if mailer.startswith("Microsoft Outlook"):
            msg["Thread-Topic"], msg["Content-Language"] = subject, "en-US"
            msg["Thread-Index"] = base64.b64encode(rng.randbytes(27 if prefix else 22)).decode()
        if mailer:
            msg["X-Mailer"] = mailer
        msg.set_content("\n".join(plain) + "\n")

        shape = rng.random()  # <.35 plain, <.80 alternative, else attachments (body either)
        if shape >= 0.35 and (shape < 0.8 or rng.random() < 0.5):
            esc = html.escape
            body = [f"<p>{esc(greeting)}</p>", *(f"<p>{esc(p)}</p>" for p in paras)]
            if items:
                body += [
                    '<table border="1" cellpadding="4" style="border-collapse:collapse">',
                    "<tr><th>Item</th><th>Description</th><th>Qty</th><th>Unit</th>"
                    "<th>Total</th></tr>",
                    *(
                        f"<tr><td>{_sku(d)}</td><td>{esc(d)}</td><td>{q}"
                        f"</td><td>{u:.2f}</td><td>{q * u:.2f}</td></tr>"
                        for d, q, u in items
                    ),
                    "</table>",
                ]
            body.append(f"<p>{esc(closing)}<br>\n{'<br>'.join(map(esc, sig))}</p>")
            if disclaimer:
                body.append(f'<p style="font-size:8pt;color:#888">{esc(_DISCLAIMER)}</p>')
            if quote:
                body += [
                    f"<hr><p><b>From:</b> {esc(quoted_from.name)}<br><b>Sent:</b> {stamp}"
                    "</p><blockquote>",
                    *(f"<p>{esc(q)}</p>" for q in quote),
                    "</blockquote>",
                ]
            msg.add_alternative(
                '<html><body style="font-family:Calibri,sans-serif;font-size:11pt">'
                "\n" + "\n".join(body) + "\n</body></html>\n",
                subtype="html",
            )
        if shape >= 0.8:
            kinds = rng.choices(_ATTACHMENTS, k=1 if rng.random() < 0.6 else 2)
            if rng.random() < 0.05:
                kinds[-1] = rng.choice(_BLOCKED)
            for kind in kinds:
                stem = rng.choice(_TOPICS[topic][1]).format(**ctx)
                data = self.attachment(kind)
                msg.add_attachment(data, kind[1], kind[2], filename=f"{stem}.{kind[0]}")
        for part in msg.walk():  # the generator would otherwise draw from the global RNG
            if part.is_multipart():
                part.set_boundary(f"----=_Part_{rng.getrandbits(64):016x}")
        return msg.as_bytes()


def generate_mail(
    count: int,
    *,
    owner: Correspondent,
    crm_contacts: Sequence[Correspondent],
    strangers: Sequence[Correspondent],
    reply_to_message_ids: Sequence[str] = (),
    reply_fraction: float = 0.1,
    seed: int = 1,
) -> list[bytes]:
    """Return `count` raw CRLF emails, each with `owner` in To or Cc; same seed, same bytes.

    Senders are CRM contacts ~60% and strangers ~40% of the time; `reply_fraction` of the mails
    reply to one of `reply_to_message_ids` (In-Reply-To and References set).
    """
    if count < 0 or not 0.0 <= reply_fraction <= 1.0:
        raise ValueError("count must be >= 0 and reply_fraction within [0, 1]")
    if not crm_contacts and not strangers:
        raise ValueError("need at least one CRM contact or stranger as a sender")
    rng = Random(seed)
    gen, out = _Generator(rng, seed, owner, crm_contacts, strangers), list[bytes]()
    for i in range(count):
        reply = bool(reply_to_message_ids) and rng.random() < reply_fraction
        out.append(gen.mail(i, rng.choice(reply_to_message_ids) if reply else None))
    return out


def _shape(raw: bytes) -> str:
    head = raw[: raw.find(b"\r\n\r\n")]
    if re.search(rb'filename="?[^"\r\n]*\.(exe|js)"?\r\n', raw):
        return "attachments, blocked ext"
    if b"Content-Type: multipart/mixed" in head:
        return "attachments"
    return "alternative" if b"Content-Type: multipart/alternative" in head else "plain"


if __name__ == "__main__":
    people, outsiders = make_people(200, 300)
    me = Correspondent("Dana Whitfield", "dana.whitfield@tidings-demo.example.com")
    tracked = [f"<tracked.{i}@tidings-demo.example.com>" for i in range(500)]
    start = time.perf_counter()
    mails = generate_mail(
        10_000, owner=me, crm_contacts=people, strangers=outsiders, reply_to_message_ids=tracked
    )
    took = time.perf_counter() - start
    sizes = sorted(map(len, mails))
    print(f"generated {len(mails)} mails in {took:.2f} s ({len(mails) / took:,.0f} mails/s)")
    print(
        f"mean size {mean_size(mails) / 1024:.1f} KB, "
        f"median {statistics.median(sizes) / 1024:.1f} KB, "
        f"p90 {sizes[len(sizes) * 9 // 10] / 1024:.1f} KB, max {sizes[-1] / 1024:.0f} KB"
    )
    for shape, n in sorted(Counter(map(_shape, mails)).items()):
        print(f"  {shape:<26} {n / len(mails):6.1%}")
    replies = sum(b"\r\nIn-Reply-To: " in m[: m.find(b"\r\n\r\n")] for m in mails)
    print(f"  {'replies to tracked ids':<26} {replies / len(mails):6.1%}")
    start = time.perf_counter()
    for raw in mails:
        email.message_from_bytes(raw, policy=email.policy.default)
    took = time.perf_counter() - start
    print(
        f"parse baseline (email.message_from_bytes, policy.default): "
        f"{len(mails) / took:,.0f} msgs/s ({took:.2f} s, {sum(sizes) / took / 1e6:.0f} MB/s)"
    )
