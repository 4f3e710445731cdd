"""Adding a city on an existing dialect is a configuration entry only (the registry proves it)."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.config import DEFAULT_CONFIG, load_config
from gateway.errors import ConfigError, Refusal
from gateway.errors import RejectionCode as C
from gateway.translate import make_envelope, translate

# 蚌埠 (340300) joins on the anhui dialect with its own implementing codes and its own site prefix.
BENGBU = """
[platforms.bengbu]
name = "安徽政务服务网 蚌埠分站"
dialect = "anhui"
region = "340300"
regions = ["340300", "340302"]
site_regions = ["3403"]
base_url = "http://127.0.0.1:9199/bengbu"
[platforms.bengbu.item_codes]
"000172001000" = "11340300MA2TBGPW0U3000172001000"
"000131005000" = "11340300MA2TBGPW0U3000131005000"
"""


@pytest.fixture
def with_bengbu(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(DEFAULT_CONFIG.read_text(encoding="utf-8") + BENGBU, encoding="utf-8")
    return path


def test_a_new_anhui_city_by_configuration(with_bengbu: Path, samples_dir: Path) -> None:
    registry = load_config(with_bengbu).registry
    assert registry.serving_platform("340302") == "bengbu"
    # a zlb case handled in Bengbu goes out in the anhui dialect with Bengbu's implementing code
    tree = json.loads((samples_dir / "zlb/case/SC002.json").read_bytes())
    tree["body"]["handleAreaCode"] = "340302"
    out = translate(registry, "ningbo", "bengbu", "case", json.dumps(tree, ensure_ascii=False).encode(),
                    make_envelope(registry.platforms["bengbu"], datetime.now(UTC)))
    case = json.loads(out)
    assert case["TASK_CODE"] == "11340300MA2TBGPW0U3000172001000"
    assert case["REGION_ID"] == "340302"
    # and Bengbu's own submissions, naming items by its codes, are read back
    back = registry.adapter("anhui").decode("case", out)
    assert back.item_code == "000172001000"
    # an item Bengbu does not offer is refused at the source's item field
    tree["body"]["localItemCode"] = "330200-XK-000131001000-01"
    with pytest.raises(Refusal) as info:
        translate(registry, "ningbo", "bengbu", "case", json.dumps(tree, ensure_ascii=False).encode(),
                  make_envelope(None, datetime.now(UTC)))
    assert (info.value.code, info.value.where) == (C.UNKNOWN_ITEM, "body.localItemCode")


def test_the_default_registry_has_no_bengbu(config: object, samples_dir: Path) -> None:
    registry = load_config().registry
    assert registry.serving_platform("340302") is None
    tree = json.loads((samples_dir / "zlb/case/SC002.json").read_bytes())
    tree["body"]["handleAreaCode"] = "340302"
    with pytest.raises(Refusal) as info:
        registry.adapter("zlb").decode("case", json.dumps(tree, ensure_ascii=False).encode())
    assert info.value.code is C.UNKNOWN_REGION


X = '[platforms.x]\nbase_url = "http://127.0.0.1:1"\n'  # a platform entry needs its base URL (config_schema)


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        (X + 'dialect = "klingon"\n', "platforms.x.dialect"),
        (X + 'dialect = "anhui"\nitem_column = "nowhere"\n', "platforms.x.item_column"),
        (X + 'dialect = "zlb"\nsite_regions = "33"\n', "platforms.x.site_regions"),
        (X + 'dialect = "zlb"\n[platforms.x.item_codes]\n"999999999999" = "Z"\n', "platforms.x.item_codes"),
        ('[dialects.zlb]\ndefault_site = "atlantis"\n', "dialects.zlb.default_site"),
    ],
)
def test_configuration_errors_name_the_key(tmp_path: Path, patch: str, key: str) -> None:
    path = tmp_path / "bad.toml"
    base = DEFAULT_CONFIG.read_text(encoding="utf-8")
    path.write_text(base + "\n" + patch, encoding="utf-8")
    tomllib.loads(path.read_text(encoding="utf-8"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == key
    assert str(path) in str(info.value)
