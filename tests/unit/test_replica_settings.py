"""Several replicas: their settings (replica id, shared keys, internal address), the refusal to serve a shared
database over HTTP without shared keys, how requests between replicas are signed, what a balancer routes on, and
what a round says when the replica holding its conversation is gone."""

from __future__ import annotations

import socket
from pathlib import Path

import anyio
import pytest
from pydantic import SecretStr, ValidationError

from collections_mcp.server.core.conversations import owner_lost_message
from collections_mcp.server.core.round_relay import OwnerLost
from collections_mcp.server.ops.cli import main
from collections_mcp.server.ops.client_config import launch_env
from collections_mcp.server.ops.doctor import check_replicas
from collections_mcp.server.replicas.replication import carries_card_data_safely
from collections_mcp.server.replicas.routing import routed
from collections_mcp.server.replicas.signing import MAX_SKEW_SECONDS, Signer
from collections_mcp.server.settings import ServerSettings

KEY_A, KEY_B = "a" * 32 + "-first-shared-secret", "b" * 40
SHORT = "too-short-secret-9f8e7d"


def settings(**values: object) -> ServerSettings:
    return ServerSettings(_env_file=None, **values)  # type: ignore[call-arg]


def test_replica_id_is_a_routable_name() -> None:
    assert settings(replica_id=" web-1_b ").replica_id == "web-1_b"
    for bad in ("web 1", "web.1", "x" * 65, "ünï"):
        with pytest.raises(ValidationError, match="letters, digits, '-' or '_'"):
            settings(replica_id=bad)


def test_replica_id_and_internal_address_default_to_host_and_port() -> None:
    replica_id, internal = settings().replica_identity("127.0.0.1", 8123)
    assert replica_id.endswith("-8123") and routed(f"{replica_id}.5f3c") == (replica_id, "5f3c")  # a routable name
    assert internal == "http://127.0.0.1:8123"
    _, behind_wildcard = settings().replica_identity("0.0.0.0", 8123)
    assert behind_wildcard == f"http://{socket.gethostname()}:8123"
    chosen = settings(replica_id="replica-a", internal_url="https://10.0.0.11:8443/").replica_identity("0.0.0.0", 1)
    assert chosen == ("replica-a", "https://10.0.0.11:8443")
    with pytest.raises(ValidationError, match="no path"):
        settings(internal_url="http://10.0.0.11:8000/mcp")


def test_secret_keys_first_seals_all_verify_and_are_never_repeated_in_errors() -> None:
    configured = settings(secret_keys=SecretStr(f" {KEY_A} , {KEY_B} ,"))
    assert configured.shared_keys() == [KEY_A.encode(), KEY_B.encode()]
    with pytest.raises(ValidationError) as short:
        settings(secret_keys=SecretStr(f"{KEY_A},{SHORT}"))
    assert "key 2 of 2 is shorter than 32 characters" in str(short.value)
    assert SHORT not in str(short.value) and KEY_A not in str(short.value)
    with pytest.raises(ValidationError, match="listed twice"):
        settings(secret_keys=SecretStr(f"{KEY_A},{KEY_A}"))
    assert settings().shared_keys() == [] and settings(secret_keys=SecretStr(" ")).secret_keys is None


@pytest.fixture
def command_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("SCOLLECT_BASE_URL", "SCOLLECT_API_KEY", "SCOLLECT_PIN", "COLLECTIONS_MCP_SECRET_KEYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLLECTIONS_MCP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr("collections_mcp.server.ops.cli.configure_logging", lambda level: None)
    return monkeypatch


@pytest.mark.anyio
async def test_serving_a_shared_database_over_http_without_shared_keys_is_refused_before_anything_starts(
    command_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 9 answers nothing: had the server tried to reach the database, the error would say so instead.
    command_env.setenv("COLLECTIONS_MCP_DATABASE_URL", "postgresql://app:s3cret-Pa55@127.0.0.1:9/collections")
    assert await anyio.to_thread.run_sync(main, ["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("collections-mcp: configuration error: COLLECTIONS_MCP_DATABASE_URL is set")
    assert "COLLECTIONS_MCP_SECRET_KEYS is not" in err and "s3cret" not in err


@pytest.mark.anyio
async def test_a_short_shared_key_is_a_configuration_error_that_does_not_print_it(
    command_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    command_env.setenv("COLLECTIONS_MCP_SECRET_KEYS", f"{KEY_A},{SHORT}")
    assert await anyio.to_thread.run_sync(main, ["serve", "--port", "0"]) == 2
    captured = capsys.readouterr()
    assert "COLLECTIONS_MCP_SECRET_KEYS: key 2 of 2 is shorter than 32 characters" in captured.err
    assert SHORT not in captured.err + captured.out and KEY_A not in captured.err + captured.out


def test_client_configs_carry_the_shared_keys_as_a_placeholder(command_env: pytest.MonkeyPatch) -> None:
    env = launch_env(settings(secret_keys=SecretStr(f"{KEY_A},{KEY_B}"), replica_id="replica-a"))
    assert env.values["COLLECTIONS_MCP_SECRET_KEYS"] == "<set COLLECTIONS_MCP_SECRET_KEYS>"
    assert "COLLECTIONS_MCP_SECRET_KEYS" in env.secrets
    assert KEY_A not in str(env.values) and KEY_B not in str(env.values)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_requests_between_replicas_are_signed_and_keys_rotate() -> None:
    clock = Clock()
    old, new = KEY_A.encode(), KEY_B.encode()
    signer = Signer([old], clock=clock)
    body = b'{"conversation":"c1","seq":1}'
    header = signer.sign("POST", "/_collections-mcp/rounds", body)
    assert signer.verify("POST", "/_collections-mcp/rounds", body, header)
    # Anything changed, a missing header, another deployment's key: refused.
    assert not signer.verify("POST", "/_collections-mcp/rounds", body + b" ", header)
    assert not signer.verify("POST", "/_collections-mcp/other", body, header)
    assert not signer.verify("POST", "/_collections-mcp/rounds", body, None)
    assert not Signer([b"c" * 32], clock=clock).verify("POST", "/_collections-mcp/rounds", body, header)
    # Rotation: a replica already on [new, old] accepts what one still on [old] signed, and vice versa during phase 1.
    rotated = Signer([new, old], clock=clock)
    assert rotated.verify("POST", "/_collections-mcp/rounds", body, header)
    assert Signer([old, new], clock=clock).verify("POST", "/_collections-mcp/rounds", body,
                                                  rotated.sign("POST", "/_collections-mcp/rounds", body))  # fmt: skip
    # A captured request cannot be replayed later.
    clock.now += MAX_SKEW_SECONDS + 1
    assert not signer.verify("POST", "/_collections-mcp/rounds", body, header)


def test_what_a_balancer_routes_on() -> None:
    assert routed("replica-a.5f3c0e") == ("replica-a", "5f3c0e")
    assert routed("replica-a.tok.en") == ("replica-a", "tok.en")
    for unrouted in ("5f3c0e", ".5f3c", "replica-a.", "a b.c", "x" * 65 + ".c"):
        assert routed(unrouted) is None
    assert carries_card_data_safely("https://10.0.0.12:8443") and carries_card_data_safely("http://127.0.0.1:8001")
    assert not carries_card_data_safely("http://10.0.0.12:8000")


def test_what_a_round_says_when_the_replica_holding_its_conversation_is_gone() -> None:
    gone, maybe, unreachable = (OwnerLost(stopped=True, delivered=False), OwnerLost(stopped=True, delivered=None),
                                OwnerLost(stopped=False, delivered=False))  # fmt: skip
    plan = "the replica running this plan stopped; nothing was committed in Collect!: ..."
    # A policy stage asked (confirmation, payment page): nothing had been sent to the vendor.
    assert "before anything was sent to the vendor: nothing was changed" in owner_lost_message("t", "policy", gone, None)
    # The tool asked in the middle of its work: only the tool knows (Collect! rolls a plan back).
    assert owner_lost_message("collect_run_contact_plan", "tool", gone, plan) == f"collect_run_contact_plan: {plan}"
    assert "whether the vendor kept any of that work is not known" in owner_lost_message("t", "tool", gone, None)
    # The answer may have arrived, or the vendor work was running: not known, for every tool.
    for phase in ("policy", "tool", "working"):
        assert "whether the call completed at the vendor is not known" in owner_lost_message("t", phase, maybe, plan)  # type: ignore[arg-type]
    assert "nothing was committed" not in owner_lost_message("t", "working", gone, plan)
    assert "could not be reached" in owner_lost_message("t", "tool", unreachable, plan)


def test_doctor_checks_the_replica_settings_without_showing_the_keys() -> None:
    database = SecretStr("postgresql://app:s3cret-Pa55@db:5432/c")
    assert check_replicas(settings()) is None  # no database: one process, nothing to check
    missing = check_replicas(settings(database_url=database))
    assert missing is not None and not missing.ok and "COLLECTIONS_MCP_SECRET_KEYS is not" in missing.detail
    rotating = check_replicas(settings(database_url=database, secret_keys=SecretStr(f"{KEY_A},{KEY_B}"), replica_id="a"))
    assert rotating is not None and rotating.ok
    assert rotating.detail == "2 shared keys (the first seals; all open); replica id a"
    assert KEY_A not in rotating.detail and KEY_B not in rotating.detail
