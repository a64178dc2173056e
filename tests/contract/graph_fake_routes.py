"""The HTTP side of ``FakeGraphServer``: the identity platform's discovery document and token
endpoint, and the Graph v1.0 mail calls. The documentation each follows is cited in
``graph_fake.py``; the shapes (error bodies, links, headers) are the documented ones."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from tests.contract import graph_fake_push as push
from tests.contract.graph_fake import EXCHANGE_AUDIENCE, GRAPH_AUDIENCE
from tests.contract.graph_fake_store import (
    Mailbox,
    Message,
    Round,
    changes_since,
    iso,
    opaque_id,
    parse_iso,
)

if TYPE_CHECKING:
    from tests.contract.graph_fake import FakeApp, FakeGraphServer

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
READ_ROLES = {"Mail.Read", "Mail.ReadWrite"}
#: Folder-level reads also work with the least privileged ReadBasic permission.
FOLDER_ROLES = READ_ROLES | {"Mail.ReadBasic.All"}
DEFAULT_PAGE = 10  # message delta's documented default page size


def build_app(fake: FakeGraphServer) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/{tenant}/v2.0/.well-known/openid-configuration")
    def discovery(tenant: str) -> Response:
        if not fake.knows_tenant(tenant):
            return _aad_error(400, "invalid_tenant", 90002, _tenant_missing(tenant))
        base = f"{fake.base_url}/{tenant}"
        return JSONResponse(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "issuer": f"{fake.base_url}/{fake.tenant_id}/v2.0",
                "jwks_uri": f"{fake.base_url}/{tenant}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "response_types_supported": ["code", "id_token", "code id_token"],
                "tenant_region_scope": "EU",
            }
        )

    @app.post("/{tenant}/oauth2/v2.0/token")
    async def token(tenant: str, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        with fake.lock:
            return _token(fake, tenant, form)

    @app.middleware("http")
    async def graph_gate(request: Request, call_next: Any) -> Response:
        if not request.url.path.startswith("/v1.0/"):
            return await call_next(request)  # type: ignore[no-any-return]
        with fake.lock:
            fake.requests.append((request.method, f"{request.url.path}?{request.url.query}"))
            if fake.throttled > 0:
                fake.throttled -= 1
                return _graph_error(
                    429,
                    "ApplicationThrottled",
                    "Application is over its MailboxConcurrency limit.",
                    {"Retry-After": str(fake.retry_after)},
                )
            header = request.headers.get("authorization", "")
            if not header.startswith("Bearer "):
                return _unauthorized("Access token is empty.")
            claims = fake.verify_token(header.removeprefix("Bearer "))
            if claims is None:
                return _unauthorized("Lifetime validation failed, the token is expired.")
            request.state.roles = set(claims.get("roles") or [])  # type: ignore[call-overload]
            request.state.app_id = str(claims.get("appid", ""))
        return await call_next(request)  # type: ignore[no-any-return]

    @app.get("/v1.0/users/{address}/mailFolders/{folder_id}")
    def get_folder(address: str, folder_id: str, request: Request) -> Response:
        with fake.lock:
            mailbox, refused = _reach(fake, request, address, FOLDER_ROLES)
            if refused:
                return refused
            assert mailbox is not None
            folder = mailbox.folder(folder_id)
            if folder is None:
                return _graph_error(404, "ErrorItemNotFound", _not_found())
            return JSONResponse(_folder_json(mailbox, folder.id))

    @app.get("/v1.0/users/{address}/mailFolders")
    def list_folders(address: str, request: Request) -> Response:
        with fake.lock:
            mailbox, refused = _reach(fake, request, address, FOLDER_ROLES)
            if refused:
                return refused
            assert mailbox is not None
            return _folder_list(mailbox, mailbox.root_id, request)

    @app.get("/v1.0/users/{address}/mailFolders/{folder_id}/childFolders")
    def child_folders(address: str, folder_id: str, request: Request) -> Response:
        with fake.lock:
            mailbox, refused = _reach(fake, request, address, FOLDER_ROLES)
            if refused:
                return refused
            assert mailbox is not None
            folder = mailbox.folder(folder_id)
            if folder is None:
                return _graph_error(404, "ErrorItemNotFound", _not_found())
            return _folder_list(mailbox, folder.id, request)

    @app.get("/v1.0/users/{address}/mailFolders/{folder_id}/messages/delta")
    def delta(address: str, folder_id: str, request: Request) -> Response:
        with fake.lock:
            mailbox, refused = _reach(fake, request, address, READ_ROLES)
            if refused:
                return refused
            assert mailbox is not None
            folder = mailbox.folder(folder_id)
            if folder is None:
                return _graph_error(404, "ErrorItemNotFound", _not_found())
            return _delta(fake, mailbox, folder.id, request)

    @app.get("/v1.0/users/{address}/messages/{message_id}/$value")
    def mime(address: str, message_id: str, request: Request) -> Response:
        with fake.lock:
            mailbox, refused = _reach(fake, request, address, READ_ROLES)
            if refused:
                return refused
            assert mailbox is not None
            message = mailbox.message(message_id)
            if message is None:
                return _graph_error(404, "ErrorItemNotFound", _not_found())
            if message.withheld:  # Graph's documented 500, for this message alone
                return _graph_error(500, "generalException", "An unspecified error has occurred.")
            return Response(message.raw, media_type="text/plain")

    @app.get("/v1.0/users/{address}/messages/{message_id}")
    def get_message(address: str, message_id: str, request: Request) -> Response:
        with fake.lock:
            mailbox, refused = _reach(fake, request, address, READ_ROLES)
            if refused:
                return refused
            assert mailbox is not None
            message = mailbox.message(message_id)
            if message is None:
                return _graph_error(404, "ErrorItemNotFound", _not_found())
            return JSONResponse(_message_json(message, request))

    @app.patch("/v1.0/users/{address}/messages/{message_id}")
    async def update_message(address: str, message_id: str, request: Request) -> Response:
        body = await request.json()
        with fake.lock:
            mailbox, refused = _reach(fake, request, address, {"Mail.ReadWrite"})
            if refused:
                return refused
            assert mailbox is not None
            message = mailbox.message(message_id)
            if message is None:
                return _graph_error(404, "ErrorItemNotFound", _not_found())
            categories = body.get("categories") if isinstance(body, dict) else None
            if (
                not isinstance(body, dict)
                or set(body) != {"categories"}
                or not isinstance(categories, list)
                or not all(isinstance(c, str) for c in categories)
            ):
                return _graph_error(
                    400, "ErrorInvalidRequest", "The fake updates only a message's categories."
                )
            message.categories = list(categories)  # the collection is replaced whole
            fake.changes_logged(message.folder_id, message.immutable_id)
            answer = _message_json(message, request)
        await run_in_threadpool(
            push.notify, fake, mailbox.address, message.folder_id, message.immutable_id, "updated"
        )
        return JSONResponse(answer)

    @app.post("/v1.0/users/{address}/sendMail")
    async def send_mail(address: str, request: Request) -> Response:
        body = await request.body()
        with fake.lock:
            mailbox, refused = _reach(fake, request, address, {"Mail.Send"})
            if refused:
                return refused
            assert mailbox is not None
            return _send(fake, mailbox, request.headers.get("content-type", ""), body)

    @app.post("/v1.0/subscriptions")
    async def subscribe(request: Request) -> Response:
        body = await request.json()
        with fake.lock:
            refused = _allowed(request, READ_ROLES)
        if refused:
            return refused
        # Outside the lock, in a worker thread: the handshake calls the notification URL.
        status, answer = await run_in_threadpool(push.create, fake, body, request.state.app_id)
        return JSONResponse(answer, status_code=status)

    @app.patch("/v1.0/subscriptions/{subscription_id}")
    async def renew(subscription_id: str, request: Request) -> Response:
        body = await request.json()
        status, answer = push.renew(fake, subscription_id, body, request.state.app_id)
        return JSONResponse(answer, status_code=status)

    @app.delete("/v1.0/subscriptions/{subscription_id}")
    def unsubscribe(subscription_id: str) -> Response:
        with fake.lock:
            if fake.subscriptions.pop(subscription_id, None) is None:
                return _graph_error(404, "ResourceNotFound", "The object was not found.")
        return Response(status_code=204)

    return app


def _allowed(request: Request, roles: set[str]) -> Response | None:
    if roles & request.state.roles:
        return None
    return _graph_error(
        403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
    )


# -- identity platform ------------------------------------------------------------------------


def _token(fake: FakeGraphServer, tenant: str, form: dict[str, str]) -> Response:
    if not fake.knows_tenant(tenant):
        return _aad_error(400, "invalid_request", 90002, _tenant_missing(tenant))
    if form.get("grant_type") != "client_credentials":
        return _aad_error(
            400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
        )
    client_id = form.get("client_id", "")
    app = fake.apps.get(client_id)
    if app is None:
        return _aad_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory "
            f"'{fake.tenant_domain}'.",
        )
    scope = form.get("scope", "")
    if not any(s.endswith("/.default") for s in scope.split()):
        return _aad_error(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows "
            "must have a scope value with /.default suffixed to the resource identifier "
            "(application ID URI).",
        )
    refused = _authenticate_client(fake, app, form)
    if refused is not None:
        return refused
    # The resource is the scope less "/.default": Exchange Online's (EWS) or else Graph's.
    exchange = f"{EXCHANGE_AUDIENCE}/.default" in scope.split()
    access_token, lifetime = fake.issue_token(
        app, EXCHANGE_AUDIENCE if exchange else GRAPH_AUDIENCE
    )
    return JSONResponse(
        {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access_token,
        }
    )


def _authenticate_client(
    fake: FakeGraphServer, app: FakeApp, form: dict[str, str]
) -> Response | None:
    if "client_assertion" in form:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return _aad_error(400, "invalid_request", 50027, "Invalid JWT token.")
        return _check_assertion(fake, app, form["client_assertion"])
    if app.secret is None or form.get("client_secret") != app.secret:
        return _aad_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is "
            f"the client secret value, not the client secret ID, for a secret added to app "
            f"'{app.client_id}'.",
        )
    return None


def _check_assertion(fake: FakeGraphServer, app: FakeApp, assertion: str) -> Response | None:
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        return _aad_error(400, "invalid_request", 50027, "Invalid JWT token.")
    thumbprint = _thumbprint(header)
    key = app.certificates.get(thumbprint)
    if key is None:
        return _aad_error(
            401,
            "invalid_client",
            700027,
            f"The certificate with identifier used to sign the client assertion is not "
            f"registered on application. [Reason - The key was not found., Thumbprint of key "
            f"used by client: '{thumbprint.upper()}']",
        )
    try:
        claims = jwt.decode(
            assertion,
            key,  # type: ignore[arg-type]
            algorithms=["RS256", "PS256"],
            options={"verify_aud": False},
        )
    except jwt.PyJWTError:
        return _aad_error(
            401, "invalid_client", 700027, "Client assertion failed signature validation."
        )
    if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
        return _aad_error(
            401, "invalid_client", 700023, "Client assertion audience or issuer is invalid."
        )
    return None


def _thumbprint(header: dict[str, Any]) -> str:
    encoded = header.get("x5t#S256") or ""
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).hex()
    except (binascii.Error, ValueError):
        return ""


def _aad_error(status: int, error: str, code: int, description: str) -> Response:
    trace, correlation = uuid.uuid4(), uuid.uuid4()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return JSONResponse(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description} Trace ID: {trace} "
            f"Correlation ID: {correlation} Timestamp: {stamp}",
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": str(trace),
            "correlation_id": str(correlation),
        },
        status_code=status,
    )


def _tenant_missing(tenant: str) -> str:
    return (
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
        "are signing into the correct cloud."
    )


# -- Graph ----------------------------------------------------------------------------------


def _reach(
    fake: FakeGraphServer, request: Request, address: str, roles: set[str]
) -> tuple[Mailbox | None, Response | None]:
    """The mailbox if the app may use it for this call; else the documented refusal."""
    mailbox = fake.mailboxes.get(address.lower())
    if mailbox is None:
        return None, _graph_error(
            404, "ErrorInvalidUser", f"The requested user '{address}' is invalid."
        )
    if not mailbox.rest_enabled:
        return None, _graph_error(
            404,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        )
    if not roles & request.state.roles:
        return None, _graph_error(
            403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
        )
    if mailbox.address in fake.blocked:
        return None, _graph_error(
            403,
            "ErrorAccessDenied",
            "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly "
            "AccessPolicy settings.",
        )
    return mailbox, None


def _folder_json(mailbox: Mailbox, folder_id: str) -> dict[str, object]:
    folder = mailbox.folders[folder_id]
    inside = [m for m in mailbox.messages.values() if m.folder_id == folder_id]
    return {
        "id": folder.id,
        "displayName": folder.display_name,
        "parentFolderId": folder.parent_id,
        "childFolderCount": len(mailbox.children(folder.id)),
        "unreadItemCount": len(inside),
        "totalItemCount": len(inside),
        "isHidden": False,
    }


def _folder_list(mailbox: Mailbox, parent_id: str, request: Request) -> Response:
    folders = mailbox.children(parent_id)
    query = request.query_params
    if "$filter" in query:
        match = re.fullmatch(r"displayName eq '((?:[^']|'')*)'", query["$filter"].strip())
        if match is None:
            return _graph_error(
                400,
                "ErrorInvalidUrlQueryFilter",
                "The query filter contains one or more invalid nodes.",
            )
        wanted = match.group(1).replace("''", "'")
        folders = [f for f in folders if f.display_name == wanted]
    skip, top = int(query.get("$skip", "0")), int(query.get("$top", str(DEFAULT_PAGE)))
    page = folders[skip : skip + top]
    body: dict[str, object] = {"value": [_folder_json(mailbox, f.id) for f in page]}
    if skip + top < len(folders):
        params = {k: v for k, v in query.items() if k != "$skip"} | {"$skip": str(skip + top)}
        body["@odata.nextLink"] = f"{request.base_url}{request.url.path[1:]}?{_encode(params)}"
    return JSONResponse(body)


def _delta(fake: FakeGraphServer, mailbox: Mailbox, folder_id: str, request: Request) -> Response:
    query = request.query_params
    prefer = _preferences(request)
    immutable = prefer.get("idtype", "").strip('"').lower() == "immutableid"
    size = int(prefer.get("odata.maxpagesize", str(DEFAULT_PAGE)))
    if "$skiptoken" in query or "$deltatoken" in query:
        paging = "$skiptoken" in query
        store = fake.tokens.rounds if paging else fake.tokens.positions
        known = store.get(query.get("$skiptoken") or query.get("$deltatoken", ""))
        if known is None or known.folder_id != folder_id:
            return _graph_error(
                410,
                "SyncStateNotFound",
                "The sync state generation is not found. The delta token is expired and data "
                "must be synchronized again.",
            )
        # A link may be followed again (after a failure on the client's side): each link
        # names its own state, never changed by following it.
        pending = known.pending if paging else changes_since(fake.changes, folder_id, known.seq)
        round_ = replace(known, pending=list(pending), seq=known.seq if paging else fake.seq)
    else:
        first = _first_round(fake, mailbox, folder_id, query)
        if isinstance(first, Response):
            return first
        round_ = first
    page = round_.pending[:size]
    round_ = replace(round_, pending=round_.pending[size:])
    items = [_delta_item(mailbox, mid, present, round_.select, immutable) for mid, present in page]
    base = f"{fake.graph_url}{request.url.path}"
    body: dict[str, object] = {
        "@odata.context": f"{fake.graph_url}/v1.0/$metadata#Collection(message)",
        "value": items,
    }
    token = opaque_id("")
    if round_.pending:
        fake.tokens.rounds[token] = round_
        body["@odata.nextLink"] = f"{base}?$skiptoken={token}"
    else:
        fake.tokens.positions[token] = round_
        body["@odata.deltaLink"] = f"{base}?$deltatoken={token}"
    headers = (
        {"Preference-Applied": f"odata.maxpagesize={size}"} if "odata.maxpagesize" in prefer else {}
    )
    return JSONResponse(body, headers=headers)


def _first_round(
    fake: FakeGraphServer, mailbox: Mailbox, folder_id: str, query: Any
) -> Round | Response:
    received_after = None
    if "$filter" in query:
        match = re.fullmatch(r"receivedDateTime (?:ge|gt) (\S+)", query["$filter"].strip())
        if match is None:
            return _graph_error(
                400,
                "ErrorInvalidUrlQueryFilter",
                "The query filter contains one or more invalid nodes.",
            )
        received_after = parse_iso(match.group(1))
    select = tuple(s.strip() for s in query.get("$select", "").split(",") if s.strip())
    inside = [
        m
        for m in mailbox.messages.values()
        if m.folder_id == folder_id and (received_after is None or m.received >= received_after)
    ]
    # Newest first, as a folder's messages are listed.
    inside.sort(key=lambda m: m.received, reverse=True)
    pending = [(m.immutable_id, True) for m in inside]
    return Round(mailbox.address, folder_id, pending, fake.seq, select, received_after)


def _delta_item(
    mailbox: Mailbox, immutable_id: str, present: bool, select: tuple[str, ...], immutable: bool
) -> dict[str, object]:
    message = mailbox.messages.get(immutable_id)
    if not present or message is None:
        # A message gone from the mailbox; its last id stands in (immutable ids do not change).
        return {"id": immutable_id, "@removed": {"reason": "deleted"}}
    props = message.properties()
    shown = {k: v for k, v in props.items() if not select or k in select}
    return {
        "@odata.type": "#microsoft.graph.message",
        "@odata.etag": f'W/"{uuid.uuid4().hex}"',
        "id": message.id(immutable),
        **shown,
    }


def _message_json(message: Message, request: Request) -> dict[str, object]:
    immutable = _preferences(request).get("idtype", "").strip('"').lower() == "immutableid"
    select = {x.strip() for x in request.query_params.get("$select", "").split(",") if x.strip()}
    props = message.properties()
    shown = {k: v for k, v in props.items() if not select or k in select}
    return {"id": message.id(immutable), **shown}


def _send(fake: FakeGraphServer, mailbox: Mailbox, content_type: str, body: bytes) -> Response:
    if not content_type.startswith("text/plain"):
        return _graph_error(
            400, "ErrorInvalidRequest", "This fake accepts only MIME (text/plain) sendMail."
        )
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return _graph_error(
            400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content."
        )
    if not raw.strip():
        return _graph_error(400, "ErrorMimeContentInvalid", "The MIME content is invalid.")
    mailbox.sent.append(raw)
    sent_items = mailbox.folder("sentitems")
    assert sent_items is not None
    message = Message(opaque_id(), raw, datetime.now(UTC).replace(microsecond=0), sent_items.id)
    mailbox.messages[message.immutable_id] = message
    fake._log(sent_items.id, message.immutable_id, added=True)
    return Response(status_code=202)


def _preferences(request: Request) -> dict[str, str]:
    found: dict[str, str] = {}
    for header in request.headers.getlist("prefer"):
        for part in header.split(","):
            name, _, value = part.strip().partition("=")
            found[name.strip().lower()] = value.strip()
    return found


def _encode(params: dict[str, str]) -> str:
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())


def _graph_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    stamp = iso(datetime.now(UTC)).rstrip("Z")
    request_id = str(uuid.uuid4())
    return JSONResponse(
        {
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": stamp,
                    "request-id": request_id,
                    "client-request-id": request_id,
                },
            }
        },
        status_code=status,
        headers=headers,
    )


def _unauthorized(message: str) -> Response:
    response = _graph_error(401, "InvalidAuthenticationToken", message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="", error="invalid_token"'
    return response


def _not_found() -> str:
    return "The specified object was not found in the store."
