"""HTTP surface of the simulator and its Event Relay worker: OAuth and REST requests are
dispatched through route tables (method + path → the API that answers), not an if-chain."""

from __future__ import annotations

import json
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sovgw.httpd import BackgroundServer, QuietHandler
from sovgw.sfsim.bulk import CsvPage
from sovgw.sfsim.state import (
    OAuthError,
    PublishedEvent,
    RelayChannel,
    RestError,
    SimOrg,
    Simulator,
)
from sovgw.sfsim.tls import create_tls

LATEST_VERSION = "65.0"
STAGED_CREDENTIALS_SINCE = 65.0
_DATA_PATH = re.compile(r"^/services/data/v(\d{2}\.\d)(/.*)?$")
_COMETD_PATH = re.compile(r"^/cometd/\d{2}\.\d/?$")
_UPSERT_PATH = re.compile(r"^/sobjects/([A-Za-z0-9_]+)/([A-Za-z0-9_]+__c)/([^/]+)/?$")


def relay_envelope(org: SimOrg, relay: RelayChannel, event: PublishedEvent) -> dict[str, Any]:
    """The PutEvents entry Salesforce Event Relay produces for one platform event."""
    return {
        "Source": f"aws.partner/salesforce.com/{org.org_id}/{relay.channel_id}",
        "DetailType": event.name,
        "Detail": json.dumps(
            {
                "payload": event.payload,
                "schemaId": event.schema_id,
                "id": event.event_uuid,
                "replayId": str(event.replay_id),
            }
        ),
        "EventBusName": relay.bus_name,
        "Time": event.published_at,
    }


def eventbridge_sender(
    events_client_for_region: Callable[[str], Any],
) -> Callable[[SimOrg, RelayChannel, PublishedEvent], None]:
    """A relay sender that calls EventBridge PutEvents (LocalStack lacks PutPartnerEvents)."""

    def send(org: SimOrg, relay: RelayChannel, event: PublishedEvent) -> None:
        result = events_client_for_region(relay.region).put_events(
            Entries=[relay_envelope(org, relay, event)]
        )
        if result.get("FailedEntryCount"):
            raise RuntimeError(f"PutEvents refused: {result['Entries'][0].get('ErrorCode')}")

    return send


@dataclass(frozen=True)
class Call:
    """One authenticated REST call: the org and user its token belongs to, and its request."""

    sim: Simulator
    org: SimOrg
    user_id: str
    version: str
    match: re.Match[str]
    query: dict[str, list[str]]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except json.JSONDecodeError:
            raise RestError(
                400, "JSON_PARSER_ERROR", "Unexpected character in request body"
            ) from None

    def param(self, name: str) -> str | None:
        return (self.query.get(name) or [""])[0] or None


@dataclass(frozen=True)
class Route:
    """``method`` + ``path`` (under ``/services/data/vXX.X``) → ``answer`` (status, body)."""

    method: str
    path: re.Pattern[str]
    answer: Callable[[Call], tuple[int, Any]]
    since: float = 20.0  # the first API version that has it


def _query(call: Call) -> tuple[int, Any]:
    text = call.param("q")
    if not text:
        raise RestError(400, "MALFORMED_QUERY", "Query string is empty")
    return 200, call.sim.rest.query(call.org, text, call.version, call.user_id)


def _upsert(call: Call) -> tuple[int, Any]:
    sobject, field, value = call.match.group(1), call.match.group(2), unquote(call.match.group(3))
    created, body = call.sim.rest.upsert(
        call.org, sobject, field, value, values=call.json(), user_id=call.user_id
    )
    return (201, body) if created else (204, None)


def _no_content(action: Callable[[Call], object]) -> Callable[[Call], tuple[int, Any]]:
    def answer(call: Call) -> tuple[int, Any]:
        action(call)
        return 204, None

    return answer


def _create_bulk_query(call: Call) -> tuple[int, Any]:
    return 200, call.sim.bulk.create(call.org, call.user_id, call.version, call.json())


def _bulk_results(call: Call) -> tuple[int, Any]:
    page = call.sim.bulk.results(
        call.org, call.match["job"], call.version, call.param("locator"), call.param("maxRecords")
    )
    return 200, page


_QUERY_JOB = r"^/jobs/query/(?P<job>[A-Za-z0-9]+)"
_RECORD = r"^/sobjects/(?P<sobject>[A-Za-z0-9_]+)/(?P<id>[A-Za-z0-9]+)/?$"
_STAGED = r"^/apps/oauth/credentials/(?P<client>[A-Za-z0-9_.]+)/staged"
REST_ROUTES = (
    Route(
        "GET",
        re.compile(r"^/limits/?$"),
        lambda c: (200, c.sim.rest.limits(c.org) | c.sim.bulk.limits(c.org)),
    ),
    # Bulk API 2.0 query jobs (API version 47.0 and later).
    Route("POST", re.compile(r"^/jobs/query/?$"), _create_bulk_query, since=47.0),
    Route("GET", re.compile(r"^/jobs/query/?$"), lambda c: (200, c.sim.bulk.jobs(c.org)), 47.0),
    Route("GET", re.compile(_QUERY_JOB + r"/results/?$"), _bulk_results, since=47.0),
    Route(
        "GET",
        re.compile(_QUERY_JOB + r"/?$"),
        lambda c: (200, c.sim.bulk.get(c.org, c.match["job"], c.user_id)),
        since=47.0,
    ),
    Route(
        "PATCH",
        re.compile(_QUERY_JOB + r"/?$"),
        lambda c: (200, c.sim.bulk.abort(c.org, c.match["job"], c.json())),
        since=47.0,
    ),
    Route(
        "DELETE",
        re.compile(_QUERY_JOB + r"/?$"),
        _no_content(lambda c: c.sim.bulk.delete(c.org, c.match["job"])),
        since=47.0,
    ),
    Route("GET", re.compile(r"^/query(?:All)?/?$"), _query),
    # The Tooling API's query: the same engine; set-up objects such as EventRelayConfig.
    Route("GET", re.compile(r"^/tooling/query/?$"), _query),
    Route(
        "POST",
        re.compile(_STAGED + r"/rotate/?$"),
        lambda c: (200, c.sim.oauth.rotate_staged(c.org, c.match["client"])),
        since=STAGED_CREDENTIALS_SINCE,
    ),
    Route(
        "POST",
        re.compile(_STAGED + r"/?$"),
        lambda c: (201, c.sim.oauth.stage_credentials(c.org, c.match["client"])),
        since=STAGED_CREDENTIALS_SINCE,
    ),
    Route(
        "DELETE",
        re.compile(_STAGED + r"/?$"),
        _no_content(lambda c: c.sim.oauth.delete_staged(c.org, c.match["client"])),
        since=STAGED_CREDENTIALS_SINCE,
    ),
    Route("PATCH", _UPSERT_PATH, _upsert),
    Route(
        "GET",
        re.compile(_RECORD),
        lambda c: (
            200,
            c.sim.rest.get(
                c.org,
                c.match["sobject"],
                c.match["id"],
                c.param("fields"),
                c.version,
                user_id=c.user_id,
            ),
        ),
    ),
    Route(
        "POST",
        re.compile(r"^/sobjects/(?P<sobject>[A-Za-z0-9_]+)/?$"),
        lambda c: (201, c.sim.rest.create(c.org, c.match["sobject"], c.json(), c.user_id)),
    ),
    Route(
        "PATCH",
        re.compile(_RECORD),
        _no_content(
            lambda c: c.sim.rest.update(
                c.org, c.match["sobject"], c.match["id"], c.json(), c.user_id
            )
        ),
    ),
    Route(
        "DELETE",
        re.compile(_RECORD),
        _no_content(
            lambda c: c.sim.rest.delete(c.org, c.match["sobject"], c.match["id"], c.user_id)
        ),
    ),
)
API_VERSIONS = ("59.0", "60.0", "61.0", "62.0", "63.0", "64.0", "65.0")
NOT_FOUND = RestError(404, "NOT_FOUND", "The requested resource does not exist")


def rest_answer(
    sim: Simulator,
    method: str,
    path: str,
    *,
    version: str,
    query: dict[str, list[str]],
    body: bytes,
    org: SimOrg,
    user_id: str,
) -> tuple[int, Any]:
    """The first route whose method and path match; 405 when only the path does, else 404."""
    if not 20 <= float(version) <= float(LATEST_VERSION):
        raise NOT_FOUND
    path_known = False
    for route in REST_ROUTES:
        match = route.path.match(path)
        if match is None or float(version) < route.since:
            continue
        if route.method != method:
            path_known = True
            continue
        return route.answer(Call(sim, org, user_id, version, match, query, body))
    if path_known:
        raise RestError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed")
    raise NOT_FOUND


def make_handler(sim: Simulator) -> type[QuietHandler]:
    oauth_routes: dict[tuple[str, str], Callable[[dict[str, str]], Any]] = {
        ("POST", "/services/oauth2/token"): sim.oauth.token,
        ("POST", "/services/oauth2/revoke"): lambda form: sim.oauth.revoke(form.get("token", "")),
    }

    class SalesforceHandler(QuietHandler):
        def _oauth(self, action: Callable[[dict[str, str]], Any]) -> None:
            body = self.read_body()
            if body is None:
                return
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
            try:
                result = action(form)
            except OAuthError as error:
                self.send_json(error.status, error.body, {"Cache-Control": "no-store"})
                return
            if result is None:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.send_json(200, result, {"Cache-Control": "no-store"})

        def _dispatch(self, method: str) -> None:
            parts = urlsplit(self.path)
            path, query = parts.path, parse_qs(parts.query)
            oauth = oauth_routes.get((method, path))
            if oauth is not None:
                self._oauth(oauth)
                return
            if method == "GET" and path.rstrip("/") == "/services/data":
                versions = [
                    {"version": v, "label": f"v{v}", "url": f"/services/data/v{v}"}
                    for v in API_VERSIONS
                ]
                self.send_json(200, versions)
                return
            if method == "GET" and path == "/_sim/health":
                self.send_json(200, {"status": "ok", "orgs": len(sim.orgs)})
                return
            if method == "POST" and _COMETD_PATH.match(path):
                self._streaming()
                return
            match = _DATA_PATH.match(path)
            if not match:
                self.send_json(404, NOT_FOUND.body)
                return
            # Read the body before anything can refuse the request, so an unread body never
            # stays on the keep-alive connection and poisons the next request.
            body = self.read_body()
            if body is None:
                return
            org = None
            try:
                org, token = sim.rest.authenticate(self.headers.get("Authorization"))
                rest = match.group(2) or "/"
                sim.rest.charge_api(org, method, rest)
                status, answer = rest_answer(
                    sim,
                    method,
                    rest,
                    version=match.group(1),
                    query=query,
                    body=body,
                    org=org,
                    user_id=token.user_id,
                )
            except RestError as error:
                status, answer = error.status, error.body
            headers = {}
            if org is not None:
                used, limit = sim.api_usage(org)
                headers["Sforce-Limit-Info"] = f"api-usage={used}/{limit}"
            if status == 204:
                self.send_response(204)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif isinstance(answer, CsvPage):
                self.send_response(status)
                for name, value in (headers | answer.headers).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)
            else:
                self.send_json(status, answer, headers)

        def _streaming(self) -> None:
            """``/cometd/<version>``: the Streaming API (Bayeux messages in, a list out)."""
            body = self.read_body()
            if body is None:
                return
            try:
                org, token = sim.rest.authenticate(self.headers.get("Authorization"))
                try:
                    messages = json.loads(body or b"[]")
                except json.JSONDecodeError:
                    raise RestError(400, "JSON_PARSER_ERROR", "Bayeux body is not JSON") from None
                self.send_json(200, sim.streaming.handle(org, token.user_id, messages))
            except RestError as error:
                self.send_json(error.status, error.body)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def do_PUT(self) -> None:  # no REST route takes PUT: answered 405 in Salesforce's shape
            self._dispatch("PUT")

    return SalesforceHandler


class SalesforceSimulatorServer:
    """The simulator served over HTTPS on loopback, with its relay worker thread."""

    def __init__(
        self, sim: Simulator | None = None, port: int = 0, state_dir: Path | None = None
    ) -> None:
        self.sim = sim or Simulator()
        self._tmp = None if state_dir else tempfile.TemporaryDirectory(prefix="sfsim-")
        directory = state_dir or Path(self._tmp.name)  # type: ignore[union-attr]
        tls, self.ca_bundle = create_tls(directory)
        self._server = BackgroundServer(make_handler(self.sim), port=port, tls=tls)
        self.sim.base_url = self._server.url
        self._stop = threading.Event()
        self._relay_thread = threading.Thread(target=self._relay_loop, daemon=True)

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def token_url(self) -> str:
        return f"{self.url}/services/oauth2/token"

    def _relay_loop(self) -> None:
        while not self._stop.is_set():
            self.sim.relay.wait_for_work(timeout=0.5)
            if not self._stop.is_set():
                self.sim.relay.relay_once()

    def start(self) -> SalesforceSimulatorServer:
        self._server.start()
        self._relay_thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self.sim.lock:
            self.sim.relay.wakeup.notify_all()
        self._relay_thread.join(timeout=5)
        self._server.stop()
        if self._tmp:
            self._tmp.cleanup()
