"""SOAP envelopes of the EWS contract fake (``FakeEwsServer``): reading requests, writing the
responses and faults Microsoft's EWS reference documents. Pure functions over XML text.

Namespaces and envelope: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/ews-xml-elements-in-exchange
Faults and their ``detail`` (ResponseCode, Message, MessageXml with BackOffMilliseconds):
https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"

#: Exchange Server 2016 CU (15.1), as its ServerVersionInfo header says.
SERVER_VERSION = (
    f'<h:ServerVersionInfo xmlns:h="{T}" MajorVersion="15" MinorVersion="1" '
    'MajorBuildNumber="2507" MinorBuildNumber="6" Version="V2017_07_11"/>'
)


#: The element of a folder of each class that is not plain ``t:Folder``:
#: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/folders-ex15websvcsotherref
FOLDER_TYPES = {
    "IPF.Appointment": "CalendarFolder",
    "IPF.Contact": "ContactsFolder",
    "IPF.Task": "TasksFolder",
}


@dataclass(frozen=True)
class Request:
    """One SOAP request: its operation element and whom it impersonates."""

    operation: ET.Element
    impersonated: str | None

    @property
    def name(self) -> str:
        return self.operation.tag.split("}", 1)[1]


def parse_request(body: bytes) -> Request:
    # The fake listens on loopback for the tests' own clients only.
    envelope = ET.fromstring(body)  # noqa: S314
    header = envelope.find(f"{{{SOAP}}}Header")
    impersonated = None
    if header is not None:
        address = header.find(f"{{{T}}}ExchangeImpersonation/{{{T}}}ConnectingSID/*")
        impersonated = (address.text or "").strip().lower() if address is not None else None
    soap_body = envelope.find(f"{{{SOAP}}}Body")
    if soap_body is None or len(soap_body) == 0:
        raise ValueError("no SOAP body")
    return Request(soap_body[0], impersonated)


def envelope(body: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP}"><s:Header>{SERVER_VERSION}</s:Header>'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    )


def response(operation: str, messages: list[str]) -> str:
    """``<m:{operation}Response>`` holding one response message per requested thing."""
    return envelope(
        f'<m:{operation}Response xmlns:m="{M}" xmlns:t="{T}"><m:ResponseMessages>'
        + "".join(messages)
        + f"</m:ResponseMessages></m:{operation}Response>"
    )


def success(operation: str, content: str = "") -> str:
    return (
        f'<m:{operation}ResponseMessage ResponseClass="Success">'
        f"<m:ResponseCode>NoError</m:ResponseCode>{content}</m:{operation}ResponseMessage>"
    )


def error(operation: str, code: str, text: str, content: str = "") -> str:
    """A response message that failed (ResponseClass="Error") with a ResponseCode value."""
    return (
        f'<m:{operation}ResponseMessage ResponseClass="Error">'
        f"<m:MessageText>{escape(text)}</m:MessageText><m:ResponseCode>{code}</m:ResponseCode>"
        f"<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>{content}</m:{operation}ResponseMessage>"
    )


def fault(code: str, text: str, back_off_ms: int | None = None) -> str:
    """A SOAP fault: what EWS answers when a whole request fails (impersonation, throttling)."""
    message_xml = (
        f'<t:MessageXml xmlns:t="{T}"><t:Value Name="BackOffMilliseconds">{back_off_ms}'
        "</t:Value></t:MessageXml>"
        if back_off_ms is not None
        else ""
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP}"><s:Body><s:Fault>'
        f'<faultcode xmlns:a="{T}">a:{code}</faultcode>'
        f'<faultstring xml:lang="en-US">{escape(text)}</faultstring>'
        f'<detail><e:ResponseCode xmlns:e="{E}">{code}</e:ResponseCode>'
        f'<e:Message xmlns:e="{E}">{escape(text)}</e:Message>{message_xml}</detail>'
        "</s:Fault></s:Body></s:Envelope>"
    )


def folder_xml(
    folder_id: str,
    parent_id: str | None,
    name: str,
    total: int,
    children: int,
    folder_class: str = "IPF.Note",
    extended: str = "",
) -> str:
    """A folder as GetFolder and FindFolder return it: the element is the folder's type
    (Folder, CalendarFolder, ContactsFolder, TasksFolder: the Folders element of the types
    reference), its FolderClass says what it holds; ``extended``, its ExtendedProperty
    elements, come after ChildFolderCount as the FolderType schema orders them."""
    parent = f"<t:ParentFolderId Id={quoteattr(parent_id)}/>" if parent_id else ""
    tag = FOLDER_TYPES.get(folder_class, "Folder")
    return (
        f'<t:{tag}><t:FolderId Id={quoteattr(folder_id)} ChangeKey="AQAAAA=="/>{parent}'
        f"<t:FolderClass>{escape(folder_class)}</t:FolderClass>"
        f"<t:DisplayName>{escape(name)}</t:DisplayName>"
        f"<t:TotalCount>{total}</t:TotalCount><t:ChildFolderCount>{children}</t:ChildFolderCount>"
        f"{extended}<t:UnreadCount>0</t:UnreadCount></t:{tag}>"
    )


def message_xml(
    item_id: str,
    received_at: datetime,
    raw: bytes | None,
    fields: set[str],
    categories: list[str] | None = None,
) -> str:
    """A ``t:Message`` with its id and whichever of MimeContent, DateTimeReceived and
    Categories was asked (Categories: an ArrayOfStringsType, left out when empty)."""
    parts = []
    if raw is not None:
        encoded = base64.b64encode(raw).decode()
        parts.append(f'<t:MimeContent CharacterSet="UTF-8">{encoded}</t:MimeContent>')
    parts.append(f'<t:ItemId Id={quoteattr(item_id)} ChangeKey="CQAAAA=="/>')
    if "item:DateTimeReceived" in fields:
        stamp = received_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        parts.append(f"<t:DateTimeReceived>{stamp}</t:DateTimeReceived>")
    if "item:Categories" in fields and categories:
        strings = "".join(f"<t:String>{escape(c)}</t:String>" for c in categories)
        parts.append(f"<t:Categories>{strings}</t:Categories>")
    return "<t:Message>" + "".join(parts) + "</t:Message>"


def requested_fields(operation: ET.Element) -> set[str]:
    """The FieldURI values of the request's shape (ItemShape or FolderShape)."""
    return {
        uri.get("FieldURI", "") for uri in operation.iter(f"{{{T}}}FieldURI") if uri.get("FieldURI")
    }


def text_of(element: ET.Element, path: str) -> str | None:
    found = element.find(path)
    return None if found is None else (found.text or "")


#: PR_ATTR_HIDDEN (PidTagAttributeHidden): a folder Outlook does not show.
ATTR_HIDDEN = 0x10F4


def asked_hidden(operation: ET.Element) -> bool:
    """Whether the FolderShape's AdditionalProperties ask for PR_ATTR_HIDDEN by an
    ExtendedFieldURI (its PropertyTag in hex or decimal, PropertyType Boolean): Exchange
    returns an extended property only when asked for it, and only where it is set."""
    for uri in operation.iterfind(
        f"{{{M}}}FolderShape/{{{T}}}AdditionalProperties/{{{T}}}ExtendedFieldURI"
    ):
        tag = uri.get("PropertyTag")
        if tag is not None and int(tag, 0) == ATTR_HIDDEN and uri.get("PropertyType") == "Boolean":
            return True
    return False


def hidden_xml(hidden: bool) -> str:
    """The ExtendedProperty element of PR_ATTR_HIDDEN, as ExtendedProperty's reference shows."""
    return (
        f'<t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="0x{ATTR_HIDDEN:x}" '
        f'PropertyType="Boolean"/><t:Value>{"true" if hidden else "false"}</t:Value>'
        "</t:ExtendedProperty>"
    )


def children(element: ET.Element, path: str) -> list[ET.Element]:
    """The child elements of ``path`` under ``element`` (none when it is missing)."""
    found = element.find(path)
    return [] if found is None else list(found)


class EwsFault(Exception):
    """Raised by the fake's handlers: the whole request fails with a SOAP fault."""

    def __init__(self, code: str, text: str, back_off_ms: int | None = None) -> None:
        super().__init__(text)
        self.code, self.text, self.back_off_ms = code, text, back_off_ms
