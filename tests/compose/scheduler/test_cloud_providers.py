"""Hetzner Cloud and Scaleway through their official SDKs (hcloud, scaleway), against recorded HTTP
exchanges: a stand-in, named so, for APIs this machine cannot reach. The SDK builds and sends
every request; the replay checks each one's method, path and query against the recording and
answers with the recorded response, so the tests read what the SDK really sent."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tests.compose.rendering import SPECS
from toolpark.compose.providers import NodeRequest, ProviderError, node_labels
from toolpark.compose.scheduler.providers.hetzner import HetznerProvider
from toolpark.compose.scheduler.providers.hetzner import Settings as HetznerSettings
from toolpark.compose.scheduler.providers.scaleway import ScalewayProvider
from toolpark.compose.scheduler.providers.scaleway import Settings as ScalewaySettings
from toolpark.compose.scheduler.replay import Exchange, Replay, ReplayMismatch, recorded
from toolpark.devtools.cli import main

LABELS = node_labels("assistant", "gpu")
REQUEST = NodeRequest("assistant-gpu-20261126-080000-a1b2", "#cloud-config\npackages: [curl]\n", LABELS, "10.0.0.2")
SERVER_ID = "0f3c5b1e-7d7a-4c1e-9a57-1c0de0000001"


def hetzner() -> HetznerProvider:
    settings = HetznerSettings(server_type="gex44", image="ubuntu-24.04", location="fsn1", network="assistant-private")
    return HetznerProvider(settings, "token")


def scaleway() -> ScalewayProvider:
    settings = ScalewaySettings(
        image="ubuntu_noble_gpu_os_12",
        project_id="22222222-2222-2222-2222-222222222222",
        private_network_id="66666666-6666-6666-6666-666666666666",
        ipam_ip_id="99999999-9999-9999-9999-999999999999",
    )
    return ScalewayProvider(settings, "SCWABCDEFGHIJKLMNOPQ", "8e3f4b8a-1b1e-4c55-9a3e-2f1d2c3b4a59")


def test_stand_in_hetzner_finds_creates_and_deletes_the_labelled_server() -> None:
    answers, provider = recorded("hetzner"), hetzner()
    with Replay(answers["find"]) as replay:
        found = provider.find(LABELS)
    # The label selector goes to the API: servers without every label are never even listed.
    assert "label_selector=toolpark-deployment%3Dassistant%2Ctoolpark-managed%3Dtrue%2Ctoolpark-node%3Dgpu" in (
        replay.sent[0].url
    )
    assert [(n.id, n.status, n.labels) for n in found] == [("4242", "running", LABELS)]
    with Replay(answers["create"]) as replay:
        node = provider.create(REQUEST)
    create = replay.sent[1].body
    assert create["labels"] == LABELS and create["user_data"] == REQUEST.user_data
    assert create["start_after_create"] is False and create["server_type"] == "gex44"
    assert replay.sent[2].body == {"network": 4711, "ip": "10.0.0.2"}  # the spec's private address
    assert replay.sent[3].url.endswith("/servers/4242/actions/poweron")
    assert (node.id, node.name, node.status) == ("4242", REQUEST.name, "starting")
    with Replay(answers["delete"]) as replay:
        provider.delete(node.id)
        assert provider.gone(node.id)
    assert [s.method for s in replay.sent] == ["DELETE", "GET"]


def test_stand_in_hetzner_errors_become_provider_errors_with_the_apis_message() -> None:
    taken = {"error": {"code": "uniqueness_error", "message": "server name is already used", "details": {}}}
    answers = recorded("hetzner")["create"]
    with Replay([answers[0], Exchange("POST", "/v1/servers", 409, taken)]), pytest.raises(ProviderError) as caught:
        hetzner().create(REQUEST)
    assert "creating the server: server name is already used (uniqueness_error)" in str(caught.value)


def test_stand_in_scaleway_tags_user_data_private_network_and_terminate() -> None:
    answers, provider = recorded("scaleway"), scaleway()
    with Replay(answers["find"]) as replay:
        found = provider.find(LABELS)
    assert "tags=toolpark-deployment%3Dassistant" in replay.sent[0].url
    assert [(n.id, n.status, n.labels) for n in found] == [(SERVER_ID, "running", LABELS)]
    with Replay(answers["create"]) as replay:
        node = provider.create(REQUEST)
    create, user_data, nic, power = (s.body for s in replay.sent)
    assert create["tags"] == [f"{k}={v}" for k, v in sorted(LABELS.items())] and create["dynamic_ip_required"] is False
    assert user_data == REQUEST.user_data
    assert nic == {"private_network_id": "66666666-6666-6666-6666-666666666666",
                   "ipam_ip_ids": ["99999999-9999-9999-9999-999999999999"]}  # fmt: skip
    assert power == {"action": "poweron"} and node.id == SERVER_ID
    with Replay(answers["delete"]) as replay:
        provider.delete(node.id)
        assert provider.gone(node.id)
    assert replay.sent[1].body == {"action": "terminate"}  # a running server goes with its local volumes


def test_stand_in_scaleway_keeps_only_servers_with_every_tag() -> None:
    answers = recorded("scaleway")["find"]
    first = answers[0]
    other = dict(first.response["servers"][0], tags=["toolpark-deployment=assistant", "toolpark-node=other"])
    page = Exchange(first.method, first.path, 200, {"servers": [other]}, first.query, {"x-total-count": "1"})
    with Replay([page, answers[1]]):
        assert scaleway().find(LABELS) == []


def test_a_request_the_recording_lacks_fails_the_replay() -> None:
    with Replay([]), pytest.raises(ReplayMismatch, match="no exchange left"):
        hetzner().delete("4242")


def test_scaleway_names_bad_credentials_without_quoting_them() -> None:
    settings = ScalewaySettings(image="x", project_id="22222222-2222-2222-2222-222222222222", private_network_id="p")
    with pytest.raises(ProviderError) as caught:
        ScalewayProvider(settings, "SCWABCDEFGHIJKLMNOPQ", "my-secret-that-is-no-uuid")
    assert "SCW_SECRET_KEY" in str(caught.value) and "my-secret" not in str(caught.value)


def test_gpu_plan_prints_the_calls_for_the_real_spec_without_sending_them(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["gpu", "plan", str(SPECS["entry-gpu"])])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "POST https://api.scaleway.com/instance/v1/zones/fr-par-2/servers {" in "\n".join(lines)
    assert any(line.startswith("PATCH ") and line.endswith('"<') is False and "bytes>" in line for line in lines)
    assert any('"action": "terminate"' in line for line in lines)
    data = tomllib.loads(SPECS["entry-gpu"].read_text())
    data["scheduler"]["provider"] = "local"
    data["scheduler"]["provider_settings"] = {}
    (tmp_path / "local.yaml").write_text(yaml.safe_dump(data, default_flow_style=False))
    local = CliRunner().invoke(main, ["gpu", "plan", str(tmp_path / "local.yaml")])
    assert local.exit_code == 0 and "supervisord -c supervisord.gpu.conf" in local.output
