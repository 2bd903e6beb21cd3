"""Every bot group's `polytraders-gov` commands against a served mesh full of demo-fleet data:
tables a person reads, JSON a script reads, exit codes that say what happened, and one line
naming what to fix for every error a person can cause."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf import json_format

from polytraders.clients.cli import main
from polytraders.clients.cli.common import instant, money
from polytraders.clients.demo.fleet import DemoFleet
from tests.support.demo_mesh import DemoMesh, demo_mesh


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoMesh]:
    with demo_mesh(tmp_path_factory.mktemp("demo")) as mesh:
        yield mesh


def run(capsys: pytest.CaptureFixture[str], demo: DemoMesh, *argv: str, token: str = "dev-operator-token") -> tuple[int, str, str]:
    code = main([*argv, "--target", demo.address, "--token", token])
    out, err = capsys.readouterr()
    return code, out, err


def rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines()]


def test_pnl_by_bot_shows_each_bot_and_a_total_equal_to_get_pnl_to_the_micro_unit(
    capsys: pytest.CaptureFixture[str], demo: DemoMesh
) -> None:
    answer = demo.fleet.operator.pnl.get(["bot"])

    code, out, _ = run(capsys, demo, "pnl", "--by", "bot")
    as_json = run(capsys, demo, "pnl", "--by", "bot", "--output", "json")[1]

    assert code == 0
    total = next(r for r in rows(out) if r and r[0] == "total")
    t = answer.total
    assert total == ["total", str(t.fills), money(t.notional_micros), money(t.realised_pnl_micros), money(t.gross_fee_micros),
                     money(t.rebate_micros), money(t.net_pnl_micros), money(t.unrealised_pnl_micros), money(t.total_pnl_micros)]  # fmt: skip
    assert {r.bot_slug for r in answer.rows} <= {r[0] for r in rows(out) if r}
    assert json.loads(as_json) == json_format.MessageToDict(answer, preserving_proto_field_name=True)
    assert t.fills == demo.fleet.fills and sum(r.net_pnl_micros for r in answer.rows) == t.net_pnl_micros


def _fill_id(demo: DemoMesh) -> str:
    return demo.fleet.operator.explanations.list(limit=1)[0].fill_report_id


# (argv, what the output must show); each command runs against the demo mesh and exits 0
READS = [
    (["pnl", "--by", "market", "--since", "1h"], "market"),
    (["pnl", "--by", "bot", "--by", "builder", "--since", "2026-01-01", "--until", "2099-01-01"], "0x" + "d3" * 32),
    (["positions", "--bot", "demo-signal-1"], "demo-signal-1"),
    (["incidents", "open"], "stopped answering heartbeats"),
    (["incidents", "list"], "SEV3"),
    (["cron", "list"], "attribution-reconcile"),
    (["cron", "runs", "--limit", "5"], "slo-evaluate"),  # the demo mesh fired it
    (["fleet"], "unreachable"),
    (["fleet", "--all", "--layer", "risk"], "demo-risk-1"),
    (["slo"], "report-bus-availability"),
    (["activity", "--since", "1h", "--action", "PromoteStrategy"], "PromoteStrategy"),
    (["config", "history", "demo-signal-1"], "signal_threshold"),
    (["config", "at", "demo-signal-1", "--at", "2099-01-01"], '"signal_threshold": "0.03"'),
    (["strategies", "list", "--stage", "backtest"], "demo-signal-1"),
    (["strategies", "show", "demo-signal-1"], "demo fleet"),
    (["attribution", "quarantine"], "explanation"),
    (["paper", "runs"], "session"),
    (["paper", "status", "demo-signal-1"], "not evaluated yet"),
]


@pytest.mark.parametrize(("argv", "shown"), READS, ids=[" ".join(a) for a, _ in READS])
def test_each_read_command_prints_a_readable_answer(
    capsys: pytest.CaptureFixture[str], demo: DemoMesh, argv: list[str], shown: str
) -> None:
    code, out, err = run(capsys, demo, *argv)

    assert (code, err) == (0, ""), err
    assert shown in out


def test_explain_prints_a_fill_in_plain_english(capsys: pytest.CaptureFixture[str], demo: DemoMesh) -> None:
    fill = _fill_id(demo)
    code, out, err = run(capsys, demo, "explain", fill)
    assert (code, err) == (0, "")
    assert fill in out and "fill" in out.lower()


def test_json_lists_are_one_object_per_line(capsys: pytest.CaptureFixture[str], demo: DemoMesh) -> None:
    code, out, _ = run(capsys, demo, "positions", "--output", "json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and lines == [json_format.MessageToDict(p, preserving_proto_field_name=True)
                                   for p in demo.fleet.operator.pnl.positions()]  # fmt: skip


def test_an_operator_acknowledges_notes_and_closes_an_incident(capsys: pytest.CaptureFixture[str], demo: DemoMesh) -> None:
    incident = demo.fleet.operator.incidents.declare("cli: book feed [/lag] lagging [x]", "SEV3")  # not rich markup

    acked = run(capsys, demo, "incidents", "ack", incident.incident_id, "--as", "alice")
    noted = run(capsys, demo, "incidents", "note", incident.incident_id, "feed restarted")
    closed = run(capsys, demo, "incidents", "close", incident.incident_id, "--resolution", "lag gone", "--output", "json")
    shown = run(capsys, demo, "incidents", "show", incident.incident_id)

    assert [acked[0], noted[0], closed[0], shown[0]] == [0, 0, 0, 0]
    assert "commander: alice" in acked[1]
    assert json.loads(closed[1])["state"] == "INCIDENT_STATE_RESOLVED"
    assert "feed restarted" in shown[1] and "resolved" in shown[1]
    assert "cli: book feed [/lag] lagging [x]" in shown[1]


def test_cron_trigger_runs_a_task_now_and_lists_the_run(capsys: pytest.CaptureFixture[str], demo: DemoMesh) -> None:
    code, out, err = run(capsys, demo, "cron", "trigger", "retention-purge")
    runs = run(capsys, demo, "cron", "runs", "--task", "retention-purge", "--output", "json")[1]

    assert (code, err) == (0, ""), err
    assert "succeeded" in out
    assert json.loads(runs.splitlines()[0])["triggered_by"] == "dev-operator"


def test_portfolio_sync_on_a_mesh_without_accounts_says_what_to_set(capsys: pytest.CaptureFixture[str], demo: DemoMesh) -> None:
    for verb in ("last", "sync"):
        code, out, err = run(capsys, demo, "portfolio", verb)
        assert (code, out) == (1, "")
        assert err == "polytraders-gov: PortfolioSync has no accounts: set portfolio_manifest (POLYTRADERS_PORTFOLIO_MANIFEST)\n"


def test_the_target_may_be_the_targets_table_of_a_toml_file(
    capsys: pytest.CaptureFixture[str], demo: DemoMesh, tmp_path: Path
) -> None:
    config = tmp_path / "polytraders.toml"
    config.write_text(f'[targets]\nledger = "{demo.address}"\ndefault = "127.0.0.1:1"\n')

    code = main(["positions", "--bot", "demo-signal-1", "--target", str(config), "--token", "dev-auditor-token"])

    assert code == 0 and "demo-signal-1" in capsys.readouterr().out  # the ledger group's address was used


def test_a_paper_gate_without_paper_days_fails_the_check(capsys: pytest.CaptureFixture[str], demo: DemoMesh) -> None:
    code, out, _ = run(capsys, demo, "paper", "gate", "demo-signal-1")
    assert code == 1 and "NO" in out


# (argv, token, what the one line on stderr names); each exits 2 and changes nothing
MISTAKES = [
    (["fleet", "--target", "127.0.0.1:1"], None, "cannot reach governance at 127.0.0.1:1"),
    (["fleet"], "not-a-token", "the mesh refused the token"),
    (["fleet"], "dev-bot-token", "this token may not do that"),
    (["strategies", "show", "no-such-strategy"], None, "no-such-strategy"),
    (["pnl", "--since", "last tuesday"], None, "--since 'last tuesday' is not a date"),
    (["activity", "--until", "2026-13-01"], None, "--until '2026-13-01' is not a date"),
    (["incidents", "show", "no-such-incident"], None, "no-such-incident"),
    (["incidents", "close", "no-such-incident", "--resolution", "x"], None, "no-such-incident"),
    (["cron", "trigger", "no-such-task"], None, "no-such-task"),
    (["explain", "not-a-fill"], None, "not-a-fill"),
    (["revenue", "show", "2026-12-01"], None, "write it YYYYMMDD"),
    (["positions", "--target", "reports=nowhere"], None, "--target 'reports=nowhere'"),
    (["positions", "--target", "/nowhere/targets.toml"], None, "--target '/nowhere/targets.toml'"),
]


@pytest.mark.parametrize(("argv", "token", "named"), MISTAKES, ids=[" ".join(a) + f" {t or ''}" for a, t, _ in MISTAKES])
def test_each_mistake_is_one_line_naming_what_to_fix_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], demo: DemoMesh, argv: list[str], token: str | None, named: str
) -> None:
    operator = demo.fleet.operator

    def state() -> tuple[object, ...]:
        """What a command could change; the demo's own schedule may run a task meanwhile, which is not one."""
        runs = [r for r in operator.cron.runs(limit=1000) if r.triggered_by != "schedule"]
        return operator.incidents.list(), runs, operator.pnl.get()

    before = state()
    target = [] if "--target" in argv else ["--target", demo.address]

    code = main([*argv, *target, "--token", token or "dev-operator-token"])
    out, err = capsys.readouterr()

    assert code == 2
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("polytraders-gov: ") and named in err, err
    assert state() == before


def test_spans_back_from_now_are_read_in_utc() -> None:
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    assert instant("90m", "--since", now=now) == datetime(2026, 12, 6, 10, 30, tzinfo=UTC)
    assert instant("2026-12-01", "--since") == datetime(2026, 12, 1, tzinfo=UTC)
    assert instant("2026-12-01T12:00:00+02:00", "--since") == datetime(2026, 12, 1, 10, tzinfo=UTC)


def test_demo_writes_the_manifest_of_its_fleet(tmp_path: Path) -> None:
    fleet = DemoFleet("127.0.0.1:1", "dev-operator-token", bots=4, outbox_dir=tmp_path)
    try:
        bots = tomllib.loads(fleet.manifest())["bot"]
        assert [(b["slug"], b["layer"]) for b in bots] == [
            ("demo-signal-1", "signal"), ("demo-risk-1", "risk"), ("demo-execution-1", "execution"), ("demo-data-1", "data")
        ]  # fmt: skip
    finally:
        fleet.close()
