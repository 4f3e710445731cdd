"""``gateway outbox`` reads sealed payloads with the configured data key, and says so in one line when it is not the
gateway's key (a real process each, as operators run it)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import tomli_w

from gateway.config import DEFAULT_CONFIG, load_config, parse_config
from gateway.sealed_store import SealedStore, is_sealed, open_configured_store
from gateway.store import InboundRecord, OutboundMessage

PERSON = b'{"case_no":"C-1","applicant":{"id_no":"11010519491231002X"}}'


def _config(tmp_path: Path, key_name: str, key_id: str = "dev-1", older: dict[str, str] | None = None) -> Path:
    data = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    data["message_log"]["key_id"] = key_id
    if older is not None:
        data["message_log"]["older_keys"] = older
    data["store"]["url"] = f"sqlite:///{tmp_path / 'gateway.db'}"
    data["dev"]["credentials"] = str(tmp_path / "dev")
    data["admin"]["token_file"] = str(tmp_path / "dev" / "admin-token")
    data["message_log"].update(url=f"sqlite:///{tmp_path / 'msglog.db'}", key_file=str(tmp_path / "dev" / key_name),
                               seal_key_file=str(tmp_path / "dev" / "seal.pem"))  # fmt: skip
    path = tmp_path / f"{key_name}.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def _outbox(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", "--config", str(config), "outbox", *args],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


async def test_outbox_commands_open_sealed_payloads_only_with_the_gateways_key(tmp_path: Path) -> None:
    config = _config(tmp_path, "data.key")
    store = await open_configured_store(load_config(config))
    assert isinstance(store, SealedStore)
    message = OutboundMessage.new(id="m1", destination="ningbo", kind="case", idem_key="C-1:1", message_id="m-1",
                                  payload=PERSON, now=1.0)  # fmt: skip
    try:
        await store.accept(InboundRecord("case", "C-1:1", "hefei", 1.0, b"TB01", "receipt_no"), [message])
        stored = await store.inner.get_message("m1")
        assert stored is not None and is_sealed(stored.payload)
    finally:
        await store.close()

    shown = _outbox(config, "show", "m1")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["record"]["case_no"] == "C-1"
    assert "11010519491231002X" not in shown.stdout  # masked on the screen too

    wrong = _outbox(_config(tmp_path, "other.key"), "list")
    assert wrong.returncode == 1
    assert wrong.stderr.strip().splitlines() == [
        "gateway outbox: decrypt: ciphertext under key 'dev-1' does not authenticate;"
        " use the gateway's own [message_log] key"
    ]


async def test_a_rotated_key_keeps_older_payloads_readable(tmp_path: Path) -> None:
    first = load_config(_config(tmp_path, "data.key"))
    store = await open_configured_store(first)
    message = OutboundMessage.new(id="m1", destination="ningbo", kind="case", idem_key="C-1:1", message_id="m-1",
                                  payload=PERSON, now=1.0)  # fmt: skip
    try:
        await store.accept(InboundRecord("case", "C-1:1", "hefei", 1.0, b"TB01", "receipt_no"), [message])
    finally:
        await store.close()
    older = {"dev-1": str(tmp_path / "dev" / "data.key")}
    rotated = _config(tmp_path, "data-2.key", key_id="dev-2", older=older)
    (tmp_path / "dev" / "data-2.key").write_text(bytes(range(16)).hex(), encoding="ascii")

    shown = _outbox(rotated, "show", "m1")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["record"]["case_no"] == "C-1"
    store = await open_configured_store(load_config(rotated))
    assert isinstance(store, SealedStore)
    try:
        fresh = OutboundMessage.new(id="m2", destination="ningbo", kind="case", idem_key="C-2:1", message_id="m-2",
                                    payload=PERSON, now=2.0)  # fmt: skip
        await store.accept(InboundRecord("case", "C-2:1", "hefei", 2.0, b"TB02", "receipt_no"), [fresh])
        stored = await store.inner.get_message("m2")
        assert stored is not None and is_sealed(stored.payload) and b"dev-2" in stored.payload[:32]
        assert [m.payload for m in await store.list_messages()] == [PERSON, PERSON]
    finally:
        await store.close()


def test_the_documented_rotation_settings_are_read(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "operations.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```toml\n(.*?)\n```", text, re.DOTALL) if "older_keys" in b]
    assert "/etc/tongban/keys/" in block
    # the documented folder, moved here: a rotated-out key file must exist (dev credentials generate current keys only)
    block = block.replace("/etc/tongban/keys/", f"{tmp_path}/")
    (tmp_path / "key-1.hex").write_text("00" * 16 + "\n", encoding="ascii")
    data = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    data["message_log"].update(tomllib.loads(block)["message_log"])
    settings = parse_config(data, "docs", Path("/")).message_log
    assert settings is not None and settings.key_id == "key-2"
    assert settings.older_keys == {"key-1": (tmp_path / "key-1.hex", "SM4-GCM")}
