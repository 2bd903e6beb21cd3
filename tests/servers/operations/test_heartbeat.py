"""HealthHeartbeat against 97 real grpc.health.v1 servers on loopback, three of them killed: pages
after exactly N misses, a PagerDuty-shaped webhook received by a local HTTP receiver, restart
commands run, recovery resolves. Then its RPCs over gRPC."""

from __future__ import annotations

import json
import shlex
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from polytraders.governance.v1 import operations_pb2 as pb
from polytraders.governance.v1 import operations_pb2_grpc as pb_grpc
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.servers.operations.heartbeat import FleetBot, HealthHeartbeat, load_fleet
from polytraders.servers.operations.pager import WebhookAlertSink
from polytraders.servers.runtime.alerts import AlertRouter
from polytraders.servers.runtime.archive import ReportFilter
from tests.conftest import start_mesh
from tests.contract.rpc import violations
from tests.sdk.test_publisher import archived
from tests.servers.operations.support import Desk, desk_on

LAYERS = ("data", "signal", "strategy", "risk", "execution", "treasury")
KILLED = (5, 40, 90)


@contextmanager
def webhook_receiver(fail_first: int = 1) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local HTTP receiver in PagerDuty Events v2's place: 503 for the first requests, then 202."""
    received: list[dict[str, Any]] = []
    failures = [fail_first]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if failures[0] > 0:
                failures[0] -= 1
                self.send_response(503)
            else:
                received.append(body)
                self.send_response(202)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v2/enqueue", received
    finally:
        server.shutdown()
        server.server_close()


async def serve_health(port: int = 0) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    return server, bound


def test_97_bots_three_killed_paged_after_exactly_n_misses_restarted_and_resolved(
    database_url: str, tmp_path: Path
) -> None:
    restarted = tmp_path / "restarted.txt"
    restart = [sys.executable, "-c", f"import sys; open({str(restarted)!r}, 'a').write(sys.argv[1] + '\\n')"]

    async def scenario(desk: Desk):
        servers = [await serve_health() for _ in range(97)]
        fleet = [
            FleetBot(
                f"bot-{i:02d}",
                LAYERS[i % 6],
                LAYERS[i % 6],
                f"127.0.0.1:{port}",
                tuple(restart + [f"bot-{i:02d}"]),
            )  # fmt: skip
            for i, (_, port) in enumerate(servers)
        ]
        with webhook_receiver() as (url, received):
            pager = WebhookAlertSink(url, "routing-key-1", backoff_seconds=0.01)
            # A generous deadline: the first sweep connects 97 channels on a busy 2-core machine,
            # and a killed bot refuses its connection at once whatever the deadline.
            heartbeat = HealthHeartbeat(fleet, desk.engine, desk.clock, AlertRouter(desk.alerts, pager), desk.reporter("health-heartbeat"),
                                        misses_to_alert=3, probe_deadline_seconds=5.0)  # fmt: skip
            try:
                sweeps = [await heartbeat.sweep()]
                for i in KILLED:
                    await servers[i][0].stop(None)
                for _ in range(3):
                    sweeps.append(await heartbeat.sweep())
                    pages_after = [a for a in desk.alerts.sent if not a.resolved]
                    if len(sweeps) < 4:
                        assert pages_after == [], f"paged after {len(sweeps) - 1} misses"
                await heartbeat.restarts_finished()
                await pager.drained()
                triggers = list(received)
                sweeps.append(await heartbeat.sweep())  # a fourth miss pages nobody again
                for i in KILLED:
                    servers[i] = await serve_health(servers[i][1])  # back on the same port
                sweeps.append(await heartbeat.sweep())
                await pager.drained()
                resolves = received[len(triggers) :]
            finally:
                # Servers left running past their event loop hang the interpreter when collected.
                await heartbeat.close()
                for server, _ in servers:
                    await server.stop(None)
        return sweeps, triggers, resolves, desk.alerts.sent

    sweeps, triggers, resolves, alerts = desk_on(
        database_url, datetime(2026, 11, 24, 12, tzinfo=UTC), scenario
    )
    killed = {f"bot-{i:02d}" for i in KILLED}
    first, *_, paged, again, recovered = sweeps
    assert sum(layer.serving for layer in first.layers) == 97
    assert {b.bot_slug for b in paged.bots if b.alerting} == killed
    assert all(
        b.consecutive_misses == 3 and b.status == pb.BOT_STATUS_UNREACHABLE
        for b in paged.bots
        if b.bot_slug in killed
    )
    assert sum(layer.alerting for layer in again.layers) == 3
    assert {b.bot_slug: b.restarts for b in recovered.bots if b.restarts} == dict.fromkeys(killed, 1)  # once per page
    assert sum(layer.serving for layer in recovered.layers) == 97 and not any(
        b.alerting for b in recovered.bots
    )

    pages = [a for a in alerts if not a.resolved]
    assert sorted(a.alert_key for a in pages) == sorted(f"health:{slug}" for slug in killed)
    assert {a.severity for a in pages} == {rpb.SEVERITY_PAGE}
    assert sorted(a.alert_key for a in alerts if a.resolved) == sorted(f"health:{slug}" for slug in killed)
    assert sorted(e["dedup_key"] for e in triggers) == sorted(f"health:{slug}" for slug in killed)
    assert {(e["event_action"], e["routing_key"], e["payload"]["severity"]) for e in triggers} == {
        ("trigger", "routing-key-1", "critical")
    }
    assert "missed 3 heartbeats in a row" in triggers[0]["payload"]["summary"]
    assert sorted((e["event_action"], e["dedup_key"]) for e in resolves) == sorted(
        ("resolve", f"health:{s}") for s in killed
    )
    assert sorted((tmp_path / "restarted.txt").read_text().split()) == sorted(killed)

    reports = [r.operations for r in archived(database_url, "health-heartbeat")]
    summaries = [r for r in reports if r.event == "health.sweep"]
    assert len(summaries) == 6 and summaries[0].metrics["layer.risk.serving"] == "16/16"
    assert "94 of 97 bots SERVING" in summaries[3].explanation
    assert sorted(r.component for r in reports if r.event == "health.restart") == sorted(
        f"bot:{s}" for s in killed
    )


def test_the_fleet_manifest_ships_97_production_bots() -> None:
    fleet = load_fleet(Path(__file__).resolve().parents[3] / "config" / "fleet.toml")
    assert len(fleet) == len({b.slug for b in fleet}) == 97
    assert {b.layer for b in fleet} == set(LAYERS)
    assert all(b.restart_command and shlex.join(b.restart_command) for b in fleet)


def test_fleet_health_over_grpc_for_operators_and_auditors_only(
    database_url: str, tmp_path: Path, clock
) -> None:
    import asyncio

    loop = asyncio.new_event_loop()
    up, port = loop.run_until_complete(serve_health())
    manifest = tmp_path / "fleet.toml"
    manifest.write_text(
        f'[[bot]]\nslug = "up-bot"\nclass = "strategy"\nlayer = "strategy"\nhealth_target = "127.0.0.1:{port}"\n\n'
        '[[bot]]\nslug = "gone-bot"\nclass = "risk"\nlayer = "risk"\nhealth_target = "127.0.0.1:1"\n'
    )
    threading.Thread(target=loop.run_forever, daemon=True).start()
    mesh = start_mesh(database_url, clock, fleet_manifest=str(manifest), heartbeat_interval_seconds=3600.0,
                      missed_heartbeats_to_alert=1)  # fmt: skip
    try:
        stub = pb_grpc.HealthHeartbeatServiceStub(grpc.insecure_channel(mesh.address))
        auditor = [("authorization", "Bearer dev-auditor-token")]
        deadline = time.monotonic() + 20
        while (fleet := stub.GetFleetHealth(pb.GetFleetHealthRequest(), metadata=auditor).fleet).sweep < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        status = {b.bot_slug: (b.status, b.alerting) for b in fleet.bots}
        assert status == {
            "up-bot": (pb.BOT_STATUS_SERVING, False),
            "gone-bot": (pb.BOT_STATUS_UNREACHABLE, True),
        }
        risk = stub.GetFleetHealth(pb.GetFleetHealthRequest(layer="risk"), metadata=auditor).fleet
        assert [b.bot_slug for b in risk.bots] == ["gone-bot"]
        watched = next(
            iter(stub.WatchFleetHealth(pb.WatchFleetHealthRequest(), metadata=auditor, timeout=10))
        )
        assert watched.fleet.sweep >= 1
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetFleetHealth(
                pb.GetFleetHealthRequest(), metadata=[("authorization", "Bearer dev-bot-token")]
            )
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as bad:
            stub.GetFleetHealth(pb.GetFleetHealthRequest(layer="nope"), metadata=auditor)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "layer" in violations(bad.value)
        pages = [r.operations for r in archived(database_url, "governance-alerts")]
        assert [(p.alert_key, p.severity) for p in pages] == [("health:gone-bot", rpb.SEVERITY_PAGE)]
        assert mesh.mesh.parts.bus.archive.read_after(0, ReportFilter(), 10)
    finally:
        mesh.stop()
        asyncio.run_coroutine_threadsafe(up.stop(None), loop).result()
        loop.call_soon_threadsafe(loop.stop)
