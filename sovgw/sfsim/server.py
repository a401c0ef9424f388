"""HTTP surface of the simulator (REST API + OAuth) and its Event Relay worker."""

from __future__ import annotations

import json
import re
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sovgw.httpd import BackgroundServer, QuietHandler
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
_SOBJECT_PATH = re.compile(r"^/sobjects/([A-Za-z0-9_]+)/?(?:([A-Za-z0-9]+)/?)?$")
_UPSERT_PATH = re.compile(r"^/sobjects/([A-Za-z0-9_]+)/([A-Za-z0-9_]+__c)/([^/]+)/?$")
_STAGED_PATH = re.compile(r"^/apps/oauth/credentials/([A-Za-z0-9_.]+)/staged(/rotate)?/?$")


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


def make_handler(sim: Simulator) -> type[QuietHandler]:
    class SalesforceHandler(QuietHandler):
        _body: bytes = b""

        def _split(self) -> tuple[str, dict[str, list[str]]]:
            parts = urlsplit(self.path)
            return parts.path, parse_qs(parts.query)

        def _form(self) -> dict[str, str] | None:
            body = self.read_body()
            if body is None:
                return None
            return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}

        def _oauth(self, action: Callable[[dict[str, str]], Any]) -> None:
            form = self._form()
            if form is None:
                return
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
            path, query = self._split()
            if method == "POST" and path == "/services/oauth2/token":
                self._oauth(sim.token)
                return
            if method == "POST" and path == "/services/oauth2/revoke":
                self._oauth(lambda form: sim.revoke(form.get("token", "")))
                return
            if method == "GET" and path.rstrip("/") == "/services/data":
                versions = [
                    {"version": v, "label": f"v{v}", "url": f"/services/data/v{v}"}
                    for v in ("59.0", "60.0", "61.0", "62.0", "63.0", "64.0", "65.0")
                ]
                self.send_json(200, versions)
                return
            if method == "GET" and path == "/_sim/health":
                self.send_json(200, {"status": "ok", "orgs": len(sim.orgs)})
                return
            match = _DATA_PATH.match(path)
            if not match:
                self.send_json(
                    404,
                    [
                        {
                            "errorCode": "NOT_FOUND",
                            "message": "The requested resource does not exist",
                        }
                    ],
                )
                return
            version, rest = match.group(1), match.group(2) or "/"
            # Read the body before anything can refuse the request, so an unread body never
            # stays on the keep-alive connection and poisons the next request.
            raw = self.read_body()
            if raw is None:
                return
            self._body = raw
            org = None
            try:
                org, token = sim.authenticate(self.headers.get("Authorization"))
                sim.charge_api(org, method, rest)
                status, body = self._rest(
                    method, version, rest, query, org=org, user_id=token.user_id
                )
            except RestError as error:
                status, body = error.status, error.body
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
            else:
                self.send_json(status, body, headers)

        def _json_body(self) -> Any:
            try:
                return json.loads(self._body or b"null")
            except json.JSONDecodeError:
                raise RestError(
                    400, "JSON_PARSER_ERROR", "Unexpected character in request body"
                ) from None

        def _rest(
            self,
            method: str,
            version: str,
            rest: str,
            query: dict[str, list[str]],
            *,
            org: SimOrg,
            user_id: str,
        ) -> tuple[int, Any]:
            if float(version) > float(LATEST_VERSION) or float(version) < 20:
                raise RestError(404, "NOT_FOUND", "The requested resource does not exist")
            if rest.rstrip("/") == "/limits" and method == "GET":
                return 200, sim.limits(org)
            staged = _STAGED_PATH.match(rest)
            if staged and float(version) >= STAGED_CREDENTIALS_SINCE:
                client_id, rotate = staged.group(1), bool(staged.group(2))
                if method == "POST" and rotate:
                    return 200, sim.rotate_staged(org, client_id)
                if method == "POST":
                    return 201, sim.stage_credentials(org, client_id)
                if method == "DELETE" and not rotate:
                    sim.delete_staged(org, client_id)
                    return 204, None
            if rest.rstrip("/") in {"/query", "/queryAll"} and method == "GET":
                text = (query.get("q") or [""])[0]
                if not text:
                    raise RestError(400, "MALFORMED_QUERY", "Query string is empty")
                return 200, sim.query(org, text, version)
            upsert = _UPSERT_PATH.match(rest)
            if upsert and method == "PATCH":
                sobject, field, value = upsert.group(1), upsert.group(2), unquote(upsert.group(3))
                created, body = sim.upsert(
                    org, sobject, field, value, values=self._json_body(), user_id=user_id
                )
                return (201, body) if created else (204, None)
            match = _SOBJECT_PATH.match(rest)
            if not match:
                raise RestError(404, "NOT_FOUND", "The requested resource does not exist")
            sobject, record_id = match.group(1), match.group(2)
            if method == "GET" and record_id:
                fields = query.get("fields", [""])[0] or None
                return 200, sim.get(org, sobject, record_id, fields, version)
            if method == "POST" and not record_id:
                return 201, sim.create(org, sobject, self._json_body(), user_id)
            if method == "PATCH" and record_id:
                sim.update(org, sobject, record_id, self._json_body())
                return 204, None
            if method == "DELETE" and record_id:
                sim.delete(org, sobject, record_id)
                return 204, None
            raise RestError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed")

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

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
            self.sim.wait_for_relay_work(timeout=0.5)
            if not self._stop.is_set():
                self.sim.relay_once()

    def start(self) -> SalesforceSimulatorServer:
        self._server.start()
        self._relay_thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self.sim.lock:
            self.sim._relay_wakeup.notify_all()
        self._relay_thread.join(timeout=5)
        self._server.stop()
        if self._tmp:
            self._tmp.cleanup()
