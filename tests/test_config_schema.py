"""The configuration schema (gateway/config_schema.py): whole-file checks, nearest names, secrets never shown, and
the schema kept in step with the settings objects and the dialects' link loaders."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import inspect
import tomllib
from pathlib import Path
from typing import Any

import pytest

from adapters.registry import PACKAGES
from gateway.config import DEFAULT_CONFIG, ServerSettings, parse_config
from gateway.config_schema import Breaker, ConfigProblems, RetryTable, Server, Worker, check_document
from gateway.delivery import BreakerSettings, RetryPolicy
from gateway.dialects import dialect, dialect_names
from gateway.errors import ConfigError
from gateway.links import dev_link_settings
from gateway.pipeline.worker import WorkerSettings


def default() -> dict[str, Any]:
    return tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))


def problems(data: dict[str, Any], base: Path = Path(".")) -> list[ConfigError]:
    with pytest.raises(ConfigProblems) as info:
        check_document(data, "g.toml", base)
    return info.value.problems


def test_the_default_configuration_passes() -> None:
    check_document(default(), "g.toml", Path("."))


def test_every_problem_is_reported_at_once_with_the_nearest_name() -> None:
    data = default()
    data["server"]["prot"] = 1
    data["message_logs"] = data.pop("message_log")
    data["platforms"]["hefei"]["base_url"] = "ftp://127.0.0.1:9101"
    data["delivery"]["worker"]["bach"] = 1
    found = {p.key: p for p in problems(data)}
    assert set(found) == {"server.prot", "message_logs", "platforms.hefei.base_url", "delivery.worker.bach"}
    assert "did you mean port?" in found["server.prot"].fix
    assert "did you mean message_log?" in found["message_logs"].fix
    assert "did you mean batch?" in found["delivery.worker.bach"].fix
    assert "http(s)" in found["platforms.hefei.base_url"].problem
    assert "'ftp://127.0.0.1:9101'" in found["platforms.hefei.base_url"].problem  # the value is named


def test_the_message_names_the_file_and_every_problem() -> None:
    data = default()
    data["server"]["tls_port"] = data["server"]["port"]
    data["server"]["tls_platform"] = "g6o"
    with pytest.raises(ConfigProblems) as info:
        check_document(data, "/etc/tongban/gateway.toml", Path("."))
    text = str(info.value)
    assert text.count("/etc/tongban/gateway.toml: server.tls_") == 2
    assert "did you mean g60?" in text


@pytest.mark.parametrize("value", [True, "8080", 70000, -1, 8080.0])
def test_a_port_is_a_whole_number_in_range(value: object) -> None:
    data = default()
    data["server"]["port"] = value
    assert [p.key for p in problems(data)] == ["server.port"]


@pytest.mark.parametrize("url", ["", "http://", "https:///x", "127.0.0.1:9101", "http://h:99999", "file:///etc"])
def test_base_url_is_http_with_a_host(url: str) -> None:
    data = default()
    data["platforms"]["ningbo"]["base_url"] = url
    assert [p.key for p in problems(data)] == ["platforms.ningbo.base_url"]


def test_a_secret_is_never_shown(tmp_path: Path) -> None:
    data = default()
    data["platforms"]["songjiang"]["link"] = {"app_id": "x", "app_secret_file": "s", "app_secret": "hunter2"}
    data["admin"]["token"] = "hunter3"
    data["platforms"]["hefei"]["password"] = ["hunter4"]
    text = str(ConfigProblems(problems(data, tmp_path)))
    assert "platforms.songjiang.link.app_secret" in text
    assert "admin.token" in text
    assert not any(secret in text for secret in ("hunter2", "hunter3", "hunter4"))


def test_parse_config_runs_the_schema() -> None:
    data = default()
    data["platform"] = {"songjiang": {}}
    with pytest.raises(ConfigError) as info:
        parse_config(data, "g.toml", Path("."))
    assert info.value.key == "platform"
    assert "did you mean platforms?" in str(info.value)


def test_the_schema_declares_every_field_of_the_settings_objects() -> None:
    assert set(RetryTable.model_fields) == {f.name for f in dataclasses.fields(RetryPolicy)}
    assert set(Breaker.model_fields) == {f.name for f in dataclasses.fields(BreakerSettings)}
    assert set(Worker.model_fields) == set(inspect.signature(WorkerSettings).parameters)
    assert set(Server.model_fields) == set(ServerSettings.__dataclass_fields__)


def test_every_dialect_has_a_link_schema_its_generated_links_pass(tmp_path: Path) -> None:
    config = parse_config(default(), "g.toml", tmp_path)
    built_in = {vars(importlib.import_module(package))["DIALECT"].name for package in PACKAGES}
    assert {p.dialect for p in config.registry.platforms.values()} == built_in <= set(dialect_names())
    gateway_sides, platform_sides = dev_link_settings(tmp_path / "dev", config.registry)
    for sides in (gateway_sides, platform_sides):
        for pid, side in sides.items():
            declared = dialect(config.registry.platforms[pid].dialect)
            declared.link_schema.model_validate(side.settings)
            declared.load_link(side.settings, side.base)


def test_an_inline_link_is_loaded_and_its_errors_are_named_by_key_path(tmp_path: Path) -> None:
    config = parse_config(default(), "g.toml", tmp_path)
    gateway_sides, _ = dev_link_settings(tmp_path, config.registry)
    data = default()
    del data["dev"], data["message_log"]  # production: no generated credentials (the log's keys: tested below)
    for pid, side in gateway_sides.items():
        data["platforms"][pid]["link"] = copy.deepcopy(dict(side.settings))
    check_document(data, "g.toml", tmp_path)  # every link of the file loads: passes
    first = data["platforms"]["changsha"]["link"]
    (tmp_path / first["signing_key"]).unlink()
    found = problems(data, tmp_path)
    assert [p.key for p in found] == ["platforms.changsha.link.signing_key"]
    del data["platforms"]["hefei"]["link"]
    assert "platforms.hefei.link" in [p.key for p in problems(data, tmp_path)]  # no credentials at all


def test_key_files_exist_and_load_unless_development_generates_them(tmp_path: Path) -> None:
    data = default()
    check_document(data, "g.toml", tmp_path)  # [dev] credentials: made on first start
    del data["dev"]
    keys = [p.key for p in problems(data, tmp_path)]
    assert {"message_log.key_file", "message_log.seal_key_file"} <= set(keys)
    data = default()
    (tmp_path / "data.key").write_text("00" * 16, encoding="ascii")
    data["message_log"]["key_file"] = "data.key"
    check_document(data, "g.toml", tmp_path)
    (tmp_path / "data.key").write_text("00" * 7, encoding="ascii")  # 7 bytes: no SM4 key
    assert [p.key for p in problems(data, tmp_path)] == ["message_log.key_file"]


def test_a_union_members_name_is_not_part_of_the_key_path() -> None:
    data = default()
    data["message_log"]["older_keys"] = {"k0": 5}  # neither a file name nor a table: pydantic tries both members
    found = [p.key for p in problems(data)]
    assert found and all(key == "message_log.older_keys.k0" for key in found), found


def test_a_misspelt_key_is_named_before_the_key_it_then_lacks() -> None:
    data = default()
    data["platforms"]["changsha"]["link"] = {"client_idd": "gw"}
    first = problems(data)[0]
    assert first.key == "platforms.changsha.link.client_idd"
    assert "did you mean client_id?" in first.fix


def test_rotated_out_data_keys_must_exist_even_with_dev_credentials(tmp_path: Path) -> None:
    data = default()
    assert data["dev"]["credentials"]  # the current keys would be generated; older ones never are
    data["message_log"]["older_keys"] = {"k0": "var/dev/rotated.key"}
    found = {p.key: p for p in problems(data, tmp_path)}
    assert "does not exist" in found["message_log.older_keys.k0"].problem
    (tmp_path / "var" / "dev").mkdir(parents=True)
    (tmp_path / "var" / "dev" / "rotated.key").write_text("00" * 16 + "\n", encoding="ascii")
    check_document(data, "g.toml", tmp_path)


@pytest.mark.parametrize("name", ["port", "tls_port"])
def test_the_console_cannot_share_a_gateway_port(name: str) -> None:
    data = default()
    data["console"] = {"port": data["server"][name]}
    (problem,) = problems(data)
    assert problem.key == "console.port"
    assert name in problem.problem
    data["console"]["host"] = "127.0.0.2"  # another address: the same port number is free there
    check_document(data, "g.toml", Path("."))
    data["console"]["host"] = "0.0.0.0"  # every address, the gateway's included
    assert [p.key for p in problems(data)] == ["console.port"]


def test_a_retry_override_for_no_platform_is_refused_with_the_nearest_id() -> None:
    data = default()
    data["delivery"]["destinations"] = {"ningbo": {"max_age": "1d"}, "nignbo": {"max_age": "2d"}}
    (problem,) = problems(data)
    assert problem.key == "delivery.destinations.nignbo"
    assert problem.fix == "did you mean ningbo?"
