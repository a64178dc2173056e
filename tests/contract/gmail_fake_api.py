"""The Gmail API endpoints of ``FakeGmailServer`` (see its docstring for the documentation
they follow), and Google's error shape."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.contract.gmail_fake_state import FakeMailbox, parse_after

MODIFY = "https://www.googleapis.com/auth/gmail.modify"
FULL = "https://mail.google.com/"
READ_SCOPES = frozenset({MODIFY, FULL, "https://www.googleapis.com/auth/gmail.readonly"})
SEND_SCOPES = frozenset(
    {
        MODIFY,
        FULL,
        "https://www.googleapis.com/auth/gmail.send",
        "https://www.googleapis.com/auth/gmail.compose",
    }
)
#: What labels.create and messages.modify accept (the scopes page).
MODIFY_SCOPES = frozenset({MODIFY, FULL})
LABEL_SCOPES = MODIFY_SCOPES | {"https://www.googleapis.com/auth/gmail.labels"}
Handler = Callable[[Request, FakeMailbox], Awaitable[Response]]
#: A watch lasts 7 days unless renewed (the push guide).
WATCH_LIFETIME = 7 * 24 * 3600


class GmailError(Exception):
    """An error answer of the Gmail API, in Google's JSON shape."""

    def __init__(
        self, code: int, reason: str, message: str, status: str, domain: str = "global"
    ) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.status, self.domain = (
            code,
            reason,
            message,
            status,
            domain,
        )
        self.headers: dict[str, str] = {}

    def response(self) -> JSONResponse:
        error = {"message": self.message, "domain": self.domain, "reason": self.reason}
        body = {
            "error": {
                "code": self.code,
                "message": self.message,
                "errors": [error],
                "status": self.status,
            }
        }
        return JSONResponse(body, status_code=self.code, headers=self.headers)


@dataclass
class Throttle:
    remaining: int = 0
    status: int = 429
    retry_after: int = 1


class GmailEndpoints:
    """users.getProfile, labels.list, messages.list/get/send, history.list and watch, over
    the fake's mailboxes; ``FakeGmailServer`` authorizes each request first."""

    _lock: threading.RLock
    page_limit: int
    topics: set[str]
    watches: dict[str, tuple[str, int]]

    def _published(self, address: str) -> None:
        raise NotImplementedError

    async def _profile(self, request: Request, mailbox: FakeMailbox) -> Response:
        with self._lock:
            return JSONResponse(
                {
                    "emailAddress": mailbox.address,
                    "messagesTotal": len(mailbox.messages),
                    "threadsTotal": len(mailbox.messages),
                    "historyId": str(mailbox.history_id),
                }
            )

    async def _labels(self, request: Request, mailbox: FakeMailbox) -> Response:
        """users.labels.list: every label, system and user, in one answer (no paging); a
        user label with its visibilities (the Label resource)."""
        with self._lock:
            labels = []
            for label_id, name in mailbox.labels.items():
                label = {"id": label_id, "name": name, "type": "system"}
                if label_id in mailbox.visibility:
                    label_list, message_list = mailbox.visibility[label_id]
                    label.update(
                        type="user",
                        labelListVisibility=label_list,
                        messageListVisibility=message_list,
                    )
                labels.append(label)
        return JSONResponse({"labels": labels})

    async def _create_label(self, request: Request, mailbox: FakeMailbox) -> Response:
        """users.labels.create: a user label; 409 when the name is taken (case aside)."""
        body = await request.json()
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise GmailError(400, "invalidArgument", "Invalid label name", "INVALID_ARGUMENT")
        with self._lock:
            if any(n.casefold() == name.casefold() for n in mailbox.labels.values()):
                raise GmailError(
                    409, "alreadyExists", "Label name exists or conflicts", "ALREADY_EXISTS"
                )
            label_list = str(body.get("labelListVisibility", "labelShow"))
            message_list = str(body.get("messageListVisibility", "show"))
            label_id = mailbox.create_label(name, label_list, message_list)
        label = {
            "id": label_id,
            "name": name,
            "type": "user",
            "labelListVisibility": label_list,
            "messageListVisibility": message_list,
        }
        return JSONResponse(label)

    async def _modify(self, request: Request, mailbox: FakeMailbox) -> Response:
        """users.messages.modify: add and remove labels by id; 400 for an unknown label."""
        body = await request.json()
        add = list(body.get("addLabelIds") or []) if isinstance(body, dict) else []
        remove = list(body.get("removeLabelIds") or []) if isinstance(body, dict) else []
        with self._lock:
            message = mailbox.messages.get(request.path_params["message_id"])
            if message is None:
                raise GmailError(404, "notFound", "Requested entity was not found.", "NOT_FOUND")
            for label in add + remove:
                if label not in mailbox.labels:
                    raise GmailError(
                        400, "invalidArgument", f"Invalid label: {label}", "INVALID_ARGUMENT"
                    )
            mailbox.change_labels(message.id, add, remove)
            answer = {"id": message.id, "threadId": message.thread_id, "labelIds": message.labels}
        self._published(mailbox.address)
        return JSONResponse(answer)

    async def _list(self, request: Request, mailbox: FakeMailbox) -> Response:
        params = request.query_params
        size = min(_page_size(params.get("maxResults")), self.page_limit)
        offset = _offset(params.get("pageToken"))
        with self._lock:
            found = mailbox.listed(params.getlist("labelIds"), parse_after(params.get("q", "")))
        page = found[offset : offset + size]
        body: dict[str, object] = {"resultSizeEstimate": len(page)}
        if page:
            body["messages"] = [{"id": m.id, "threadId": m.thread_id} for m in page]
        if offset + size < len(found):
            body["nextPageToken"] = _token_for(offset + size)
        return JSONResponse(body)

    async def _get(self, request: Request, mailbox: FakeMailbox) -> Response:
        if request.query_params.get("format") != "raw":
            raise GmailError(
                400, "invalidArgument", "Tidings' fake serves format=raw only", "INVALID_ARGUMENT"
            )
        with self._lock:
            message = mailbox.messages.get(request.path_params["message_id"])
            if message is None:
                raise GmailError(404, "notFound", "Requested entity was not found.", "NOT_FOUND")
            if message.withheld:  # the guide's 500 backendError, for this message alone
                raise GmailError(500, "backendError", "Backend Error", "INTERNAL")
            return JSONResponse(mailbox.to_message_json(message))

    async def _history(self, request: Request, mailbox: FakeMailbox) -> Response:
        params = request.query_params
        start = params.get("startHistoryId", "")
        if not start.isdigit():
            raise GmailError(400, "invalidArgument", "Invalid startHistoryId", "INVALID_ARGUMENT")
        size = min(_page_size(params.get("maxResults")), self.page_limit)
        offset = _offset(params.get("pageToken"))
        with self._lock:
            if int(start) < mailbox.oldest_history_id:
                raise GmailError(404, "notFound", "Requested entity was not found.", "NOT_FOUND")
            found = mailbox.history_after(
                int(start), params.get("labelId"), set(params.getlist("historyTypes"))
            )
            current = mailbox.history_id
        page = found[offset : offset + size]
        body: dict[str, object] = {"historyId": str(current)}
        if page:
            body["history"] = [record.to_json() for record in page]
        if offset + size < len(found):
            body["nextPageToken"] = _token_for(offset + size)
        return JSONResponse(body)

    async def _send(self, request: Request, mailbox: FakeMailbox) -> Response:
        try:
            raw = base64.urlsafe_b64decode(json.loads(await request.body())["raw"])
        except (ValueError, KeyError, TypeError) as error:
            raise GmailError(
                400, "invalidArgument", "Invalid raw message", "INVALID_ARGUMENT"
            ) from error
        with self._lock:
            mailbox.sent.append(raw)
            message_id = mailbox.add_message(raw, ["SENT"], None)
        self._published(mailbox.address)
        return JSONResponse({"id": message_id, "threadId": message_id, "labelIds": ["SENT"]})

    async def _watch(self, request: Request, mailbox: FakeMailbox) -> Response:
        try:
            topic = str(json.loads(await request.body())["topicName"])
        except (ValueError, KeyError, TypeError) as error:
            raise GmailError(
                400, "invalidArgument", "Invalid topicName", "INVALID_ARGUMENT"
            ) from error
        if not re.fullmatch(r"projects/[^/]+/topics/[^/]+", topic):
            raise GmailError(
                400, "invalidArgument", f"Invalid topicName: {topic}", "INVALID_ARGUMENT"
            )
        with self._lock:
            if topic not in self.topics:
                raise GmailError(
                    403,
                    "forbidden",
                    "User not authorized to perform this action.",
                    "PERMISSION_DENIED",
                )
            expiration = int((time.time() + WATCH_LIFETIME) * 1000)
            self.watches[mailbox.address] = (topic, expiration)
            history_id = str(mailbox.history_id)
        return JSONResponse({"historyId": history_id, "expiration": str(expiration)})


def rate_limited(throttle: Throttle) -> GmailError:
    if throttle.status == 429:
        error = GmailError(
            429,
            "rateLimitExceeded",
            "User-rate limit exceeded.",
            "RESOURCE_EXHAUSTED",
            domain="usageLimits",
        )
    else:
        error = GmailError(
            403,
            "userRateLimitExceeded",
            "User Rate Limit Exceeded",
            "PERMISSION_DENIED",
            domain="usageLimits",
        )
    error.headers["Retry-After"] = str(throttle.retry_after)
    return error


def _page_size(value: str | None) -> int:
    # Both lists default to 100 and allow at most 500 per page.
    return min(int(value), 500) if value and value.isdigit() and int(value) > 0 else 100


def _token_for(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode("ascii")


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token).decode().removeprefix("offset:"))
    except ValueError as error:
        raise GmailError(400, "invalidArgument", "Invalid pageToken", "INVALID_ARGUMENT") from error
