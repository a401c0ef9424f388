"""EventBridge wiring built from ``sovgw.wiring`` (the same declaration the local runner uses).

Salesforce Event Relay publishes each org's events to a partner event bus named after the
partner event source; routes for Salesforce events go there. The jurisdiction's own bus carries
internal events and every route, Salesforce's included, for events recovered by
``sovgw salesforce relay replay`` (AWS reserves ``aws.*`` sources, so nothing else can put a
Salesforce event there). Every target has an explicit retry policy and a dead-letter queue
(the custom-bus default is only 5 attempts / 300 s), and every bus an archive for replay.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from sovgw.config import Jurisdiction, OrgBinding
from sovgw.wiring import EVENT_ARCHIVE_RETENTION_DAYS, ROUTES, Route, rule_name


@dataclass(frozen=True)
class EventWiringArgs:
    jurisdiction: Jurisdiction
    orgs: tuple[OrgBinding, ...]
    function_arns: Mapping[str, pulumi.Input[str]]
    dead_letter_queue_arns: Mapping[str, pulumi.Input[str]]


class EventWiring(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: EventWiringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sovgw:events:EventWiring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        internal = aws.cloudwatch.EventBus(
            f"{name}-internal", name=f"sovgw-{args.jurisdiction.id}", opts=child
        )
        self.buses: dict[str, aws.cloudwatch.EventBus] = {"internal": internal}
        for org in args.orgs:
            self.buses[org.org_id] = aws.cloudwatch.EventBus(
                f"{name}-{org.org_id}",
                name=org.event_source,
                event_source_name=org.event_source,
                opts=child,
            )
        for key, bus in self.buses.items():
            aws.cloudwatch.EventArchive(
                f"{name}-{key}-archive",
                event_source_arn=bus.arn,
                retention_days=EVENT_ARCHIVE_RETENTION_DAYS,
                opts=child,
            )
            routes = [r for r in ROUTES if key == "internal" or r.from_salesforce]
            for route in routes:
                self._route(name, key, bus, route, args)
        self.register_outputs({"buses": {k: b.name for k, b in self.buses.items()}})

    def _route(
        self, name: str, key: str, bus: aws.cloudwatch.EventBus, route: Route, args: EventWiringArgs
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        suffix = "" if key == "internal" else f"-{key[:15]}"
        rule = aws.cloudwatch.EventRule(
            f"{name}-{route.rule}{suffix}",
            name=f"{rule_name(args.jurisdiction.id, route)}{suffix}",
            event_bus_name=bus.name,
            event_pattern=json.dumps(route.pattern),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-{route.rule}{suffix}",
            rule=rule.name,
            event_bus_name=bus.name,
            arn=args.function_arns[route.function],
            retry_policy={
                "maximum_event_age_in_seconds": route.retry.maximum_event_age_seconds,
                "maximum_retry_attempts": route.retry.maximum_retry_attempts,
            },
            dead_letter_config={"arn": args.dead_letter_queue_arns[route.function]},
            opts=child,
        )
        aws.lambda_.Permission(
            f"{name}-{route.rule}{suffix}",
            action="lambda:InvokeFunction",
            function=args.function_arns[route.function],
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            opts=child,
        )
