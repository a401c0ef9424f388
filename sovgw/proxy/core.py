"""The proxy's pipeline, independent of HTTP: authorise → classify → pseudonymise → route →
call (with failover) → scan and restore the answer → audit.

Only an allow-list of chat-completions fields is forwarded, each string in it (keys included)
pseudonymised; caller headers, ``user`` and ``metadata`` never leave. The caller gets the
original values back, and values the upstream produced that the caller never sent are removed.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any, Literal, NoReturn, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sovgw.config import Jurisdiction, ModelEndpoint
from sovgw.domain import dlp
from sovgw.domain.audit import AuditLinks, AuditRecord, Outcome, Stage, audit_record_id
from sovgw.domain.canaries import ANSWER_WITHHELD, NO_CANARIES, CanaryWatch, Sighting
from sovgw.domain.errors import GatewayError, UpstreamRefused, UpstreamUnavailable
from sovgw.domain.failover import (
    BreakerBoard,
    NoHealthyEndpoint,
    call_with_failover,
    call_with_failover_async,
)
from sovgw.domain.levels import DataLevel, highest
from sovgw.domain.pipeline import decision_fields
from sovgw.domain.pseudonymise import (
    JUNCTION_REACH,
    PlaceholderTable,
    StreamingOutputFilter,
    pseudonymise,
    pseudonymise_across,
    residual_level,
    restore,
    scan_output,
)
from sovgw.domain.routing import RouteDecision, RouteQuery, decide_route
from sovgw.ports import (
    AuditSink,
    AwaitableUpstream,
    ChatUpstream,
    UpstreamReply,
)
from sovgw.proxy.apps import CallerApp, ProxyConfig
from sovgw.proxy.compute import ComputeGate

FORWARDED_FIELDS = (
    "messages",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "n",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "tools",
    "tool_choice",
    "response_format",
)
# Asked for, they would be dropped silently; refused, the caller knows why it got none.
REFUSED_FIELDS = ("logprobs", "top_logprobs")
AUTO_MODEL = "auto"
CANARY_REACH = 96  # longer than any canary written out: what is kept of a stream to match

# The pipeline's steps are generators that yield the blocking work they need (an audit write,
# reading the canary watch, an alarm) and get its result back: run in place on a pool thread,
# or handed to a thread by the event loop, from one description of the steps.
Blocking = Callable[[], Any]
RunBlocking = Callable[[Blocking], Awaitable[Any]]


async def _drive_async[T](steps: Generator[Blocking, Any, T], run_blocking: RunBlocking) -> T:
    """Run the steps, handing their blocking work to ``run_blocking``."""
    result = None
    while True:
        try:
            work = steps.send(result)
        except StopIteration as done:
            return cast(T, done.value)
        result = await run_blocking(work)


async def _in_place(work: Blocking) -> Any:
    return work()


def _drive[T](steps: Generator[Blocking, Any, T]) -> T:
    """Run the steps with their blocking work done in place: the driver above, whose awaits
    then never suspend, run to its end without an event loop."""
    runner = _drive_async(steps, _in_place)
    try:
        runner.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    runner.close()
    raise RuntimeError("work done in place suspended")


class _CanaryInStream(Exception):
    def __init__(self, sighting: Sighting) -> None:
        super().__init__(sighting.path)
        self.sighting = sighting


class _StreamCanaryCheck:
    """Each chunk the model streams, checked with the end of what came before it (a canary
    may be split across chunks); raises _CanaryInStream before the chunk that completes one
    goes out."""

    def __init__(self, watch: CanaryWatch) -> None:
        self._watch = watch
        self._said = ""

    def __call__(self, piece: dict[str, Any]) -> dict[str, Any]:
        if not self._watch:
            return piece
        text = self._said + "\n".join(leaf for _, leaf in _leaves(piece.get("choices")))
        sighting = self._watch.seen(text, "model_output")
        if sighting is not None:
            raise _CanaryInStream(sighting)
        self._said = text[-CANARY_REACH:]
        return piece


# Content parts DLP cannot read: PRIVILEGED, whatever they hold, unless the rule allows media.
UNSCANNABLE_PARTS = frozenset({"image_url", "input_audio", "file", "input_image", "input_file"})
# The vocabulary of chat requests, answers and JSON Schema: words that cannot hold a finding,
# so scanning them (every object key, every role, every finish reason) is skipped.
STRUCTURAL_WORDS = frozenset(
    {
        "role", "content", "system", "developer", "user", "assistant", "tool", "type", "text",
        "name", "function", "arguments", "description", "parameters", "properties", "required",
        "object", "string", "number", "integer", "boolean", "array", "items", "enum", "null",
        "tool_calls", "tool_call_id", "id", "image_url", "url", "detail", "auto", "none",
        "json_object", "json_schema", "schema", "strict", "refusal",
        "stop", "length", "content_filter", "function_call",
    }
)  # fmt: skip


class ProxyError(Exception):
    """A refusal with its HTTP status and OpenAI's error shape (``type``, and the ``code`` and
    ``param`` clients branch on); the message names rules and fields, never values."""

    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        explanation: Mapping[str, Any] | None = None,
        *,
        code: str | None = None,
        param: str | None = None,
        retry_after_s: float | None = None,
        headers: Mapping[str, str] | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})
        self.close = close  # the connection cannot serve another request (body left unread)
        self.kind = kind
        self.code = code
        self.param = param
        self.retry_after_s = retry_after_s
        self.explanation = dict(explanation or {})

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": str(self),
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }
        if self.explanation:
            error["sovgw"] = self.explanation
        return {"error": error}


def model_not_found(name: str) -> ProxyError:
    return ProxyError(
        404,
        "invalid_request_error",
        f"The model `{name[:200]}` does not exist or you do not have access to it.",
        code="model_not_found",
        param="model",
    )


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """The caller's request: shape-checked; unknown fields are dropped, not forwarded."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(default=AUTO_MODEL, max_length=200)
    messages: list[_Message] = Field(min_length=1, max_length=256)
    stream: bool = False


def parse_chat_request(raw: bytes) -> tuple[ChatRequest, dict[str, Any]]:
    """The validated request and the raw JSON object; ProxyError(400) says what is wrong."""
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise ProxyError(
            400, "invalid_request_error", "the body is not valid JSON", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise ProxyError(
            400, "invalid_request_error", "the body must be a JSON object", code="invalid_json"
        )
    for name in REFUSED_FIELDS:
        if body.get(name) not in {None, False}:  # 0 == False: top_logprobs 0 asks nothing
            raise ProxyError(
                400,
                "invalid_request_error",
                f"{name} is not supported: token log-probabilities split pseudonymised values "
                "into pieces that can neither be restored nor scanned",
                code="unsupported_parameter",
                param=name,
            )
    try:
        return ChatRequest.model_validate(body), body
    except ValidationError as error:
        errors = error.errors(include_input=False)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5]
        )
        raise ProxyError(
            400,
            "invalid_request_error",
            f"invalid request: {problems}",
            code="invalid_value",
            param=".".join(str(p) for p in errors[0]["loc"]) if errors else None,
        ) from None


@dataclass
class Masked:
    """What pseudonymisation of a request found and produced."""

    table: PlaceholderTable = field(default_factory=PlaceholderTable)
    counts: Counter[str] = field(default_factory=Counter)
    levels: list[DataLevel] = field(default_factory=list)
    residual_levels: list[DataLevel] = field(default_factory=list)

    def text(self, value: str) -> str:
        if value in STRUCTURAL_WORDS:
            return value
        findings = dlp.detect(value)
        if not findings:
            return value
        for finding in findings:
            self.counts[finding.entity.value] += 1
            self.levels.append(dlp.ENTITY_LEVELS[finding.entity])
        self.residual_levels.append(residual_level(findings))
        return pseudonymise(value, findings, self.table)

    def tree(self, value: Any) -> Any:
        """Every string of a JSON value pseudonymised, object keys included. A content part
        the scanner cannot read (an image, audio, a file) is noted: routing treats it as
        PRIVILEGED unless the matching rule allows media (fail closed)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.tree(v) for v in value]
        if isinstance(value, dict):
            if value.get("type") in UNSCANNABLE_PARTS:
                self.counts["UNSCANNABLE_PART"] += 1
            return {self.text(str(k)): self.tree(v) for k, v in value.items()}
        return value

    def across(self, body: dict[str, Any]) -> None:
        """Values split across the strings of one request (two messages, two content parts,
        a message and a tool's arguments): the upstream reads them joined, so they are
        scanned joined, after each string was pseudonymised on its own."""
        leaves = [(p, text) for p, text in _leaves(body) if text not in STRUCTURAL_WORDS]
        texts, spanning = pseudonymise_across([text for _, text in leaves], self.table)
        for (path, before), after in zip(leaves, texts, strict=True):
            if after != before:
                _set_leaf(body, path, after)
        for finding in spanning:
            self.counts[finding.entity.value] += 1
            self.levels.append(dlp.ENTITY_LEVELS[finding.entity])
        if spanning:
            self.residual_levels.append(residual_level(spanning))


@dataclass
class Prepared:
    """A request ready to send: the decision, the body per endpoint, the placeholders."""

    request_id: str
    app: CallerApp
    purpose: str
    jurisdiction: Jurisdiction
    decision: RouteDecision
    endpoints: tuple[ModelEndpoint, ...]
    masked_body: dict[str, Any]
    masked: Masked
    stream: bool
    watch: CanaryWatch = NO_CANARIES  # read once per request, when its routing is recorded

    @property
    def mapping(self) -> dict[str, str]:
        return self.masked.table.mapping

    def body_for(self, endpoint: ModelEndpoint) -> dict[str, Any]:
        return {"model": endpoint.name, **self.masked_body}

    @cached_property
    def prompt_sha256(self) -> str:
        """Hash of what leaves (both audit records of the request name it; computed once)."""
        return hashlib.sha256(json.dumps(self.masked_body, sort_keys=True).encode()).hexdigest()

    def summary(self, endpoint: ModelEndpoint | None, removed: Mapping[str, int]) -> dict[str, Any]:
        """The route explanation returned to the caller with the answer."""
        return {
            "request_id": self.request_id,
            "rule_id": self.decision.rule_id,
            "policy_version": self.decision.policy_version,
            "jurisdiction": self.jurisdiction.id,
            "level": self.decision.query.level.value,
            "residual_level": self.decision.query.leaving_level.value,
            "endpoint": endpoint.ref if endpoint else None,
            "tier": endpoint.tier.value if endpoint else None,
            "pseudonymised": dict(self.masked.counts),
            "removed_from_answer": dict(removed),
        }


# The capabilities are read with getattr: isinstance against a runtime-checkable Protocol
# took about 3 % of a proxied request (py-spy).
def _writes_locally(audit: AuditSink) -> bool:
    """Whether ``audit`` is a ``LocalAuditSink``."""
    return getattr(audit, "writes_locally", False) is True


def _fresh_watch(canaries: Callable[[], CanaryWatch]) -> CanaryWatch | None:
    """The watch if ``canaries`` is ``FreshCanaries`` and fresh, else None (a read is due)."""
    fresh: Callable[[], CanaryWatch | None] | None = getattr(canaries, "fresh", None)
    return fresh() if fresh is not None else None


class _NoCanaries:
    """No org has planted canaries: nothing to read, ever fresh."""

    def __call__(self) -> CanaryWatch:
        return NO_CANARIES

    def fresh(self) -> CanaryWatch:
        return NO_CANARIES


@dataclass
class SovereignProxy:
    """The proxy's logic with its adapters injected (upstreams, audit sink, breakers)."""

    config: ProxyConfig
    upstream: ChatUpstream
    audit: AuditSink
    breakers: BreakerBoard = field(default_factory=BreakerBoard)
    # Leak canaries of the jurisdiction's orgs, and what a sighting does (opens an incident).
    canaries: Callable[[], CanaryWatch] = field(default_factory=_NoCanaries)
    on_canary: Callable[[Sighting, str], None] = field(default=lambda sighting, evidence: None)
    compute: ComputeGate = field(default_factory=ComputeGate)
    # The same upstreams, when some endpoints' whole answers can be awaited on an event loop.
    awaitable: AwaitableUpstream | None = None

    def authenticate(self, authorization: str | None) -> CallerApp:
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise ProxyError(
                401,
                "authentication_error",
                "an API key is required (Bearer)",
                code="invalid_api_key",
            )
        app = self.config.authenticate(key.strip())
        if app is None:
            raise ProxyError(
                401, "authentication_error", "the API key is not valid", code="invalid_api_key"
            )
        return app

    def jurisdiction_of(self, app: CallerApp) -> Jurisdiction:
        jurisdiction = self.config.gateway_config.jurisdiction(app.jurisdiction)
        if jurisdiction is None:  # load_proxy_config checked it; stay closed anyway
            raise ProxyError(
                403,
                "permission_error",
                f"jurisdiction {app.jurisdiction} unknown",
                code="jurisdiction_unknown",
            )
        return jurisdiction

    def route_of(self, app: CallerApp, name: str) -> str:
        """Where a model name may go: ``auto``, a trust tier, or a destination's name (one of
        the jurisdiction's, or the target of the first alias whose pattern matches); a name
        that maps to nothing is OpenAI's 404 ``model_not_found``."""
        if name in {AUTO_MODEL, ""}:
            return AUTO_MODEL
        for endpoint in self._destinations(app):
            if name in {endpoint.name, endpoint.ref}:
                return endpoint.name
        for alias in self.config.aliases_for(app):
            if fnmatch.fnmatchcase(name, alias.pattern):
                return alias.route
        raise model_not_found(name)

    def _destinations(self, app: CallerApp) -> list[ModelEndpoint]:
        jurisdiction = self.jurisdiction_of(app)
        return [e for e in jurisdiction.endpoints if e.region in jurisdiction.allowed_regions]

    def model(self, app: CallerApp, name: str) -> dict[str, Any]:
        """``GET /v1/models/{id}``: the model object of any name this app may send."""
        route = self.route_of(app, name)
        return {
            "id": name,
            "object": "model",
            "created": 0,
            "owned_by": "sovgw",
            "sovgw": {"route": route},
        }

    def models(self, app: CallerApp) -> list[dict[str, Any]]:
        """The destinations this app's jurisdiction may use at all (routing decides per call)."""
        listed: list[dict[str, Any]] = [
            {"id": AUTO_MODEL, "object": "model", "created": 0, "owned_by": "sovgw"}
        ]
        for endpoint in self._destinations(app):
            listed.append(
                {
                    "id": endpoint.name,
                    "object": "model",
                    "created": 0,
                    "owned_by": endpoint.tier.value,
                    "sovgw": {"region": endpoint.region, "tier": endpoint.tier.value},
                }
            )
        names = {m["id"] for m in listed}
        for alias in self.config.aliases_for(app):
            if not any(c in alias.pattern for c in "*?[") and alias.pattern not in names:
                names.add(alias.pattern)
                listed.append(self.model(app, alias.pattern))
        return listed

    async def prepare_async(
        self,
        app: CallerApp,
        raw_body: bytes,
        run_blocking: RunBlocking,
        *,
        purpose: str | None = None,
        jurisdiction_header: str | None = None,
    ) -> Prepared:
        """Authorise the app for purpose and jurisdiction, pseudonymise, decide the route: on
        an event loop, its blocking work handed to ``run_blocking``, and so is scanning a large
        body (the loop serves other requests meanwhile)."""
        steps = self._prepare_steps(app, raw_body, purpose, jurisdiction_header)
        return await self._drive_sized(steps, len(raw_body), run_blocking)

    def _prepare_steps(
        self,
        app: CallerApp,
        raw_body: bytes,
        purpose: str | None,
        jurisdiction_header: str | None,
    ) -> Generator[Blocking, Any, Prepared]:
        if jurisdiction_header and jurisdiction_header != app.jurisdiction:
            raise ProxyError(
                403,
                "permission_error",
                f"app {app.id} is bound to jurisdiction {app.jurisdiction}, "
                f"not {jurisdiction_header}",
                code="jurisdiction_mismatch",
            )
        purpose = purpose or app.default_purpose
        if purpose not in app.purposes:
            raise ProxyError(
                403,
                "permission_error",
                f"app {app.id} may not use purpose {purpose!r}; allowed: {', '.join(app.purposes)}",
                code="purpose_not_allowed",
            )
        with self.compute.held(len(raw_body)):
            request, body = parse_chat_request(raw_body)
            route = self.route_of(app, request.model)
            jurisdiction = self.jurisdiction_of(app)
            masked = Masked()
            masked.table.reserve_literals(raw_body.decode("utf-8", "replace"))
            masked_body = {k: masked.tree(body[k]) for k in FORWARDED_FIELDS if k in body}
            masked.across(masked_body)
            decision = decide_route(
                RouteQuery(
                    level=highest(masked.levels, floor=app.baseline_level),
                    residual_level=highest(masked.residual_levels, floor=app.baseline_level),
                    purpose=purpose,
                    media=masked.counts["UNSCANNABLE_PART"] > 0,
                ),
                jurisdiction,
            )
            prepared = Prepared(
                request_id=str(uuid.uuid4()),
                app=app,
                purpose=purpose,
                jurisdiction=jurisdiction,
                decision=decision,
                endpoints=decision.endpoints,
                masked_body=masked_body,
                masked=masked,
                stream=request.stream,
            )
            routing = self._routing_record(prepared)
        yield from self._audited(partial(self.audit.write, routing))
        watch = _fresh_watch(self.canaries)
        prepared.watch = watch if watch is not None else (yield self.canaries)
        if decision.allowed and decision.reaches_external and prepared.watch:
            text = "\n".join(leaf for _, leaf in _leaves(body))
            if sighting := prepared.watch.seen(text, "external_prompt"):
                yield from self._stop_canary_steps(prepared, sighting)
        if not decision.allowed:
            raise ProxyError(
                403,
                "permission_error",
                decision.reason,
                decision.explanation(),
                code="policy_denied",
            )
        if route != AUTO_MODEL:
            chosen = [e for e in decision.endpoints if route in {e.name, e.tier.value}]
            if not chosen:
                raise ProxyError(
                    403,
                    "permission_error",
                    f"model {request.model!r} (route {route}) may not receive this request; "
                    f"allowed: {', '.join(e.name for e in decision.endpoints)}",
                    {**decision.explanation(), "allowed": False},
                    code="policy_denied",
                    param="model",
                )
            prepared.endpoints = tuple(chosen)
        return prepared

    def complete(self, prepared: Prepared) -> dict[str, Any]:
        """Call an allowed endpoint and return the caller's answer (values restored)."""
        try:
            endpoint, reply = call_with_failover(
                prepared.endpoints,
                self.breakers,
                lambda e: self.upstream.complete(e, prepared.body_for(e)),
            )
        except GatewayError as error:
            self._audit_invocation(prepared, None, Counter(), (), failure=str(error))
            raise _upstream_error(error) from None
        return _drive(self._answer_steps(prepared, endpoint, reply, _produced(reply)))

    def can_await(self, prepared: Prepared) -> bool:
        """Whether every endpoint the request may go to answers on an event loop."""
        awaitable = self.awaitable
        return awaitable is not None and all(awaitable.can_await(e) for e in prepared.endpoints)

    async def complete_async(self, prepared: Prepared, run_blocking: RunBlocking) -> dict[str, Any]:
        """``complete`` on an event loop (``can_await``): no thread waits on the upstream; the
        blocking work goes to ``run_blocking``, and so does restoring a large answer."""
        awaitable = self.awaitable
        if awaitable is None:
            raise TypeError("no upstream here can be awaited")
        try:
            endpoint, reply = await call_with_failover_async(
                prepared.endpoints,
                self.breakers,
                lambda e: awaitable.complete_async(e, prepared.body_for(e)),
            )
        except GatewayError as error:
            failed = partial(
                self._audit_invocation, prepared, None, Counter(), (), failure=str(error)
            )
            await _drive_async(self._audited(failed), run_blocking)
            raise _upstream_error(error) from None
        produced = _produced(reply)
        steps = self._answer_steps(prepared, endpoint, reply, produced)
        return await self._drive_sized(steps, len(produced), run_blocking)

    async def _drive_sized[T](
        self, steps: Generator[Blocking, Any, T], size: int, run_blocking: RunBlocking
    ) -> T:
        """Drive ``steps`` from the loop, or whole on a thread when their work is large (over
        the compute gate's limit): a long scan must not stall the loop."""
        if size > self.compute.solo_limit:
            return cast(T, await run_blocking(partial(_drive, steps)))
        return await _drive_async(steps, run_blocking)

    def _answer_steps(
        self, prepared: Prepared, endpoint: ModelEndpoint, reply: UpstreamReply, produced: str
    ) -> Generator[Blocking, Any, dict[str, Any]]:
        """``produced``: the answer's texts joined, as the model wrote them (``_produced``)."""
        output = StreamingOutputFilter(prepared.mapping, hold=0)
        answer = dict(reply.body)
        choices = answer.get("choices")
        with self.compute.held(len(produced)):
            if isinstance(choices, list):
                answer["choices"] = [_restore_tree(choice, output) for choice in choices]
            # What the model produced, before any value is restored or removed.
            sighting = prepared.watch.seen(produced, "model_output") if prepared.watch else None
        aws_ids = (reply.aws_request_id,) if reply.aws_request_id else ()
        if sighting is not None:
            yield from self._audited(
                partial(
                    self._audit_invocation,
                    prepared,
                    endpoint,
                    output.removed,
                    aws_ids,
                    failure=ANSWER_WITHHELD,
                )
            )
            yield from self._stop_canary_steps(prepared, sighting)
        answer["sovgw"] = prepared.summary(endpoint, output.removed)
        yield from self._audited(
            partial(self._audit_invocation, prepared, endpoint, output.removed, aws_ids)
        )
        return answer

    def _audited(self, write: Blocking) -> Generator[Blocking, Any, None]:
        """An audit write: made in place to a local store, else handed to the driver."""
        if _writes_locally(self.audit):
            write()
        else:
            yield write

    def stream(self, prepared: Prepared) -> tuple[ModelEndpoint, Iterator[dict[str, Any]]]:
        """Open an upstream stream (failover until the first byte) and the caller's chunks."""
        try:
            endpoint, chunks = call_with_failover(
                prepared.endpoints,
                self.breakers,
                lambda e: self.upstream.open_stream(e, prepared.body_for(e)),
            )
        except GatewayError as error:
            self._audit_invocation(prepared, None, Counter(), (), failure=str(error))
            raise _upstream_error(error) from None
        return endpoint, self._restored_chunks(prepared, endpoint, chunks)

    def _restored_chunks(
        self, prepared: Prepared, endpoint: ModelEndpoint, chunks: Iterator[dict[str, Any]]
    ) -> Iterator[dict[str, Any]]:
        filters: dict[tuple[int, str, int], StreamingOutputFilter] = {}
        removed: Counter[str] = Counter()
        last: dict[str, Any] = {}

        def filter_for(key: tuple[int, str, int]) -> StreamingOutputFilter:
            if key not in filters:
                filters[key] = StreamingOutputFilter(prepared.mapping)
            return filters[key]

        def flushed(choice_index: int) -> Iterator[dict[str, Any]]:
            for key in sorted(k for k in filters if k[0] == choice_index):
                output = filters.pop(key)
                tail = output.finish()
                removed.update(output.removed)
                if tail:
                    delta: dict[str, Any] = (
                        {"content": tail}
                        if key[1] == "content"
                        else {"tool_calls": [{"index": key[2], "function": {"arguments": tail}}]}
                    )
                    yield {**last, "choices": [{"index": choice_index, "delta": delta}]}

        failure: str | None = None
        finished = False
        tails: dict[tuple[Any, ...], str] = {}  # per JSON path, what the caller got last
        verdicts: dict[tuple[str, str], tuple[str, Counter[str]]] = {}
        outcome = Outcome.UPSTREAM_TRUNCATED
        checked = _StreamCanaryCheck(prepared.watch)
        try:
            for chunk in map(checked, chunks):  # as the model produced it
                released: list[dict[str, Any]] = []
                with self.compute.held(0):  # an event is bounded (MAX_EVENT_BYTES)
                    last = {
                        k: v for k, v in chunk.items() if k in {"id", "object", "created", "model"}
                    }
                    for choice in chunk.get("choices") or ():
                        if choice.get("finish_reason"):
                            finished = True
                            released += flushed(int(choice.get("index", 0)))
                        _filter_delta(choice, filter_for)
                    removed.update(_clean_other_fields(chunk, prepared.mapping, tails, verdicts))
                yield from released
                yield chunk
            with self.compute.held(0):
                released = [tail for i in sorted({k[0] for k in filters}) for tail in flushed(i)]
            yield from released
            if not finished:  # closed before any choice finished: the answer is cut short
                raise UpstreamUnavailable(
                    f"upstream {endpoint.ref} ended the stream before any finish_reason"
                )
        except GatewayError as error:  # the stream was open: what the caller got is cut short
            failure = str(error)
            yield _upstream_error(error).body()
        except _CanaryInStream as stopped:
            failure, outcome = ANSWER_WITHHELD, Outcome.FAILED
            try:
                _drive(self._stop_canary_steps(prepared, stopped.sighting))
            except ProxyError as refusal:
                yield refusal.body()
        finally:
            for output in filters.values():
                removed.update(output.removed)
            self._audit_invocation(
                prepared, endpoint, removed, (), failure=failure, outcome=outcome
            )

    def _stop_canary_steps(
        self, prepared: Prepared, sighting: Sighting
    ) -> Generator[Blocking, Any, NoReturn]:
        """A planted value on its way out: refuse, record why, and raise the alarm."""
        record = self._record(
            prepared,
            Stage.REJECTION,
            outcome=Outcome.REJECTED,
            reason=sighting.reason,
        )
        yield partial(self._alarm, record, sighting)
        raise ProxyError(
            403 if sighting.path == "external_prompt" else 502,
            "permission_error" if sighting.path == "external_prompt" else "server_error",
            "a value planted to detect leaks was on its way out: nothing was sent, and the "
            "event is recorded",
            code="canary_detected",
        )

    def raise_log_sighting(self, sighting: Sighting) -> None:
        """A canary in one of the proxy's own log lines (withheld from it already): the
        record, in the org's jurisdiction, and the alarm."""
        binding = self.config.gateway_config.org(sighting.org_id)
        if binding is None:
            return
        record = AuditRecord(
            record_id=str(uuid.uuid4()),
            stage=Stage.REJECTION,
            jurisdiction=binding.jurisdiction,
            org_id=sighting.org_id,
            principal="proxy",
            reason=sighting.reason,
            outcome=Outcome.REJECTED,
        )
        self._alarm(record, sighting)

    def _alarm(self, record: AuditRecord, sighting: Sighting) -> None:
        self.audit.write(record)
        self.on_canary(sighting, record.record_id)

    def _routing_record(self, prepared: Prepared) -> AuditRecord:
        return self._record(
            prepared,
            Stage.ROUTING,
            entity_counts=dict(prepared.masked.counts),
            prompt_sha256=prepared.prompt_sha256,
            **decision_fields(prepared.decision),
        )

    def _audit_invocation(
        self,
        prepared: Prepared,
        endpoint: ModelEndpoint | None,
        removed: Mapping[str, int],
        aws_request_ids: tuple[str, ...],
        *,
        failure: str | None = None,
        outcome: Outcome = Outcome.FAILED,
    ) -> None:
        """``outcome`` is what a ``failure`` is recorded as (no failure: ok)."""
        self.audit.write(
            self._record(
                prepared,
                Stage.MODEL_INVOCATION,
                region=endpoint.region if endpoint else None,
                endpoint=endpoint.name if endpoint else None,
                rule_id=prepared.decision.rule_id,
                policy_version=prepared.decision.policy_version,
                outcome=outcome if failure else Outcome.OK,
                reason=failure,
                prompt_sha256=prepared.prompt_sha256,
                output_removed=dict(removed),
                links=AuditLinks(aws_request_ids=aws_request_ids),
            )
        )

    def _record(self, prepared: Prepared, stage: Stage, **fields: Any) -> AuditRecord:
        return AuditRecord(
            record_id=audit_record_id(f"proxy/{prepared.request_id}", stage),
            stage=stage,
            jurisdiction=prepared.jurisdiction.id,
            principal=f"app:{prepared.app.id}",
            purpose=prepared.purpose,
            data_level=prepared.decision.query.level,
            **fields,
        )


# What a model endpoint's refusal means for the caller: its own request was refused (the same
# status, so OpenAI clients raise BadRequestError and do not retry), or the gateway's
# configuration is wrong (the endpoint's 401/403/404: a 502 for the caller).
CALLER_STATUSES = frozenset({400, 409, 413, 415, 422})


def _upstream_error(error: GatewayError) -> ProxyError:
    if isinstance(error, NoHealthyEndpoint) and error.throttled:
        # Every allowed endpoint said 429: the caller is told to slow down, with the wait
        # the upstream named (clients back off on 429; on 5xx they retry at once).
        return ProxyError(
            429,
            "requests",
            str(error),
            code="rate_limit_exceeded",
            retry_after_s=error.retry_after_s,
        )
    if isinstance(error, NoHealthyEndpoint):
        return ProxyError(503, "server_error", str(error), code="upstream_unavailable")
    if isinstance(error, UpstreamRefused) and error.status in CALLER_STATUSES:
        return ProxyError(
            error.status,
            "invalid_request_error",
            str(error),
            code=error.code or "upstream_rejected_request",
            param=error.param,
        )
    return ProxyError(
        502, "server_error", f"{type(error).__name__}: {error}", code="upstream_error"
    )


def _produced(reply: UpstreamReply) -> str:
    """Every text of an answer's choices, joined: what the canaries are matched against."""
    return "\n".join(leaf for _, leaf in _leaves(reply.body.get("choices")))


def _restore_tree(value: Any, output: StreamingOutputFilter) -> Any:
    """Every string of an answer scanned and restored (content, tool call arguments)."""
    if isinstance(value, str):
        return value if value in STRUCTURAL_WORDS else output.whole(value)
    if isinstance(value, list):
        return [_restore_tree(v, output) for v in value]
    if isinstance(value, dict):
        return {k: _restore_tree(v, output) for k, v in value.items()}
    return value


def _filter_delta(
    choice: dict[str, Any],
    filter_for: Any,
) -> None:
    """Replace a streamed delta's text by what is safe to release so far."""
    index = int(choice.get("index", 0))
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        return
    if isinstance(delta.get("content"), str):
        delta["content"] = filter_for((index, "content", 0)).feed(delta["content"])
    for call in delta.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            key = (index, "tool", int(call.get("index", 0)))
            function["arguments"] = filter_for(key).feed(function["arguments"])


def _streamed_text(path: tuple[Any, ...]) -> bool:
    """The fields the streaming filters own: a delta's content and tool-call arguments."""
    return (len(path) >= 4 and path[0] == "choices" and path[2] == "delta") and (
        path[3] == "content" or path[-1] == "arguments"
    )


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))


def _set_leaf(root: Any, path: tuple[Any, ...], text: str) -> None:
    for step in path[:-1]:
        root = root[step]
    root[path[-1]] = text


def _clean_other_fields(
    chunk: dict[str, Any],
    mapping: dict[str, str],
    tails: dict[tuple[Any, ...], str],
    verdicts: dict[tuple[str, str], tuple[str, Counter[str]]],
) -> Counter[str]:
    """Every other string of a streamed chunk (ids, model, logprobs, fields an upstream
    adds): placeholders restored, and a value the caller never sent removed, also when it is
    split across neighbouring fields (``id: "chatcmpl-590-"`` then ``model: "555-0126"``)
    or across chunks on one path, since a client can join either. These fields cannot be
    held back like a delta's text (each chunk needs its own), so the part that completes a
    value is removed: what the caller already got is a fragment."""
    removed: Counter[str] = Counter()
    leaves = [(p, text) for p, text in _leaves(chunk) if not _streamed_text(p)]
    previous = ""

    def judged(before: str, text: str) -> str:
        """``text`` cleaned after ``before`` (the same pair recurs every chunk: ids, model
        names, a tail that has become periodic; each pair is scanned once per stream)."""
        key = (before, text)
        if key not in verdicts:
            verdicts[key] = (
                _cut_completed(before, text, mapping)
                if before
                else scan_output(restore(text, mapping), mapping)
            )
        cleaned, found = verdicts[key]
        removed.update(found)
        return cleaned

    for path, text in leaves:
        cleaned = judged("", text)
        cleaned = judged(previous, cleaned)
        cleaned = judged(tails.get(path, ""), cleaned)
        _set_leaf(chunk, path, cleaned)
        tails[path] = (tails.get(path, "") + cleaned)[-JUNCTION_REACH:]
        previous = cleaned[-JUNCTION_REACH:]
    return removed


def _cut_completed(before: str, text: str, mapping: dict[str, str]) -> tuple[str, Counter[str]]:
    """``text`` without the part of it that completes, with ``before``, a value the caller
    never sent (the value spans the junction)."""
    joined = before + text
    allowed = set(mapping.values())
    cut = 0
    removed: Counter[str] = Counter()
    for finding in dlp.detect(joined):
        if (
            finding.start < len(before) < finding.end
            and finding.entity is not dlp.EntityType.PRIVILEGED
            and joined[finding.start : finding.end] not in allowed
        ):
            removed[finding.entity.value] += 1
            cut = max(cut, finding.end - len(before))
    return (f"[REMOVED]{text[cut:]}" if cut else text), removed
