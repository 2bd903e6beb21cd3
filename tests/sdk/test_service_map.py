"""The service map: one description of where each group is, in TOML, in one string, or in code;
what each family's channel dials; and every way to get it wrong named in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polytraders.sdk.service_map import GROUPS, RoutedChannel, ServiceMap
from polytraders.servers.runtime.config import load_config


def test_one_string_names_each_group_and_a_default() -> None:
    targets = ServiceMap.parse("reports=127.0.0.1:50051,127.0.0.1:50052; lifecycle=10.0.0.3:50051;default=gov:50051")
    assert targets.addresses("reports") == ("127.0.0.1:50051", "127.0.0.1:50052")
    assert targets.addresses("registry") == ("10.0.0.3:50051",)  # a family, by the group that serves it
    assert targets.addresses("incidents") == ("gov:50051",)  # operations is not named: the default
    assert targets.channel_target("reports") == "ipv4:127.0.0.1:50051,127.0.0.1:50052"
    assert targets.channel_target("lifecycle") == "10.0.0.3:50051"
    assert ServiceMap.parse("127.0.0.1:50051").addresses("audit") == ("127.0.0.1:50051",)


def test_several_replicas_are_balanced_with_health_checking_and_one_is_dialled_as_it_is() -> None:
    targets = ServiceMap.of({"reports": ["127.0.0.1:1", "127.0.0.1:2"], "audit": "127.0.0.1:3"})
    (name, value), = targets.channel_options("reports")
    assert name == "grpc.service_config"
    assert json.loads(value) == {"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": ""}}
    assert targets.channel_options("audit") == []
    assert ServiceMap.of({"default": ["[::1]:1", "[::1]:2"]}).channel_target("reports") == "ipv6:[::1]:1,[::1]:2"


def test_the_config_file_holds_the_map_and_the_environment_overrides_it(tmp_path: Path) -> None:
    config = tmp_path / "polytraders.toml"
    config.write_text('[server]\nmesh_token = "t"\n\n[targets]\nreports = ["127.0.0.1:1", "127.0.0.1:2"]\nlifecycle = "127.0.0.1:3"\n')
    loaded = load_config(config, env={})
    assert loaded.targets == ServiceMap.of({"reports": ["127.0.0.1:1", "127.0.0.1:2"], "lifecycle": "127.0.0.1:3"})
    assert ServiceMap.from_toml(config) == loaded.targets
    overridden = load_config(config, env={"POLYTRADERS_TARGETS": "default=127.0.0.1:9"})
    assert overridden.targets == ServiceMap.parse("default=127.0.0.1:9")
    assert ServiceMap.from_env({"POLYTRADERS_TARGETS": "default=127.0.0.1:9"}) == overridden.targets
    assert ServiceMap.from_env({}) is None


BAD_MAPS = [
    ("unknown group", "trading=127.0.0.1:1", "unknown group 'trading'"),
    ("no port", "reports=127.0.0.1", "reports needs host:port addresses"),
    ("port out of range", "reports=127.0.0.1:70000", "reports needs host:port addresses"),
    ("no address", "reports=", "reports needs host:port addresses"),
    ("names for several replicas", "audit=gov-a:1,gov-b:1", "each must be an IP address (got 'gov-a:1')"),
]


@pytest.mark.parametrize(("case", "text", "message"), BAD_MAPS, ids=[c[0] for c in BAD_MAPS])
def test_a_bad_map_is_refused_naming_what_to_fix(case: str, text: str, message: str) -> None:
    with pytest.raises(ValueError, match="service map") as refused:
        ServiceMap.parse(text)
    assert message in str(refused.value)


def test_a_group_the_map_does_not_reach_is_named() -> None:
    with pytest.raises(ValueError, match="no target for 'operations' and no 'default'"):
        ServiceMap.parse("reports=127.0.0.1:1").addresses("incidents")


def test_a_service_every_process_serves_goes_to_the_default_or_else_to_any_group() -> None:
    assert ServiceMap.parse("reports=127.0.0.1:1;default=127.0.0.1:9").addresses("mesh") == ("127.0.0.1:9",)
    assert ServiceMap.parse("reports=127.0.0.1:1;lifecycle=127.0.0.1:2").addresses("mesh") == ("127.0.0.1:1",)


def test_each_rpc_is_routed_to_the_group_its_proto_file_names() -> None:
    targets = ServiceMap.parse("reports=127.0.0.1:1;lifecycle=127.0.0.1:2;default=127.0.0.1:9")
    with RoutedChannel(targets) as routed:
        publish = "/polytraders.governance.v1.ReportBusService/PublishReports"
        assert routed.target_for(publish) == ("reports", "127.0.0.1:1")
        assert routed.target_for("/polytraders.governance.v1.BacktesterService/RunBacktest") == ("lifecycle", "127.0.0.1:2")
        assert routed.target_for("/polytraders.governance.v1.SlaMonitorService/ListSlos")[1] == "127.0.0.1:9"
        assert routed.target_for("/grpc.health.v1.Health/Check")[1] == "127.0.0.1:9"
        subscribe = "/polytraders.governance.v1.ReportBusService/SubscribeReports"
        assert routed.channel_for(subscribe) is routed.channel_for(publish)  # one channel per target
        assert routed.channel_for(publish) is not routed.channel_for("/grpc.health.v1.Health/Check")


def test_grpcs_addresses_mean_tls_and_may_not_be_mixed_with_plaintext() -> None:
    secure = ServiceMap.parse("reports=grpcs://127.0.0.1:1;default=grpcs://127.0.0.1:9")
    assert secure.secure and secure.addresses("reports") == ("127.0.0.1:1",)
    assert not ServiceMap.parse("127.0.0.1:1").secure
    with pytest.raises(ValueError, match="grpcs:// .TLS. or none"):
        ServiceMap.parse("reports=grpcs://127.0.0.1:1;default=127.0.0.1:9")


def test_the_cluster_procfile_serves_every_group_where_its_service_map_says() -> None:
    """deploy/Procfile and config/cluster.toml describe one split: each group on the port its
    [targets] entry names, every group somewhere."""
    repo = Path(__file__).resolve().parents[2]
    targets = ServiceMap.from_toml(repo / "config" / "cluster.toml")
    served: dict[str, str] = {}
    for line in (repo / "deploy" / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            words = line.split()
            port, groups = words[words.index("--port") + 1], words[words.index("--groups") + 1].split(",")
            served.update(dict.fromkeys(groups, f"127.0.0.1:{port}"))
    assert sorted(served) == sorted(GROUPS)
    assert {group: targets.addresses(group)[0] for group in GROUPS} == served
