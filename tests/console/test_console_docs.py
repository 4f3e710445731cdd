"""The commands of docs/operations.md's "Console" section, run exactly as written (the configuration path and the
ports made this test's, as tests/test_documented_commands.py does): an operator following the section gets accounts
and a console that answers."""

from __future__ import annotations

import re
import shlex
import subprocess
import urllib.request
from pathlib import Path

from commands_support import free_base, listening, make_site, output, runnable, start, stop, subcommand, wait_until

from gateway.store import open_store

REPO = Path(__file__).resolve().parents[2]


def console_commands() -> list[list[str]]:
    text = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text[text.index("\n## Console\n") :]
    section = section[: section.find("\n## ", 1)] if "\n## " in section[1:] else section
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [shlex.split(line, comments=True) for block in blocks for line in block.splitlines() if line.strip()]


async def test_the_console_section_s_commands_give_accounts_and_a_console(tmp_path: Path) -> None:
    commands = console_commands()
    assert [subcommand(argv) for argv in commands] == ["console", "console", "serve"]
    site = make_site(tmp_path)
    console_port = free_base(1)
    with site.config.open("a", encoding="utf-8") as config:  # step 1 of the section
        config.write(f'\n[console]\nport = {console_port}\nhost = "127.0.0.1"\n')
    for argv in commands[:2]:
        done = subprocess.run(runnable(argv, site), cwd=site.folder, input="a-long-password-1\n", text=True,
                              capture_output=True, timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
    store = await open_store(f"sqlite://{site.folder / 'var' / 'gateway.db'}")
    try:
        roles = {a.name: a.role for a in await store.list_operators()}
    finally:
        await store.close()
    assert roles == {"lead-1": "admin", "duty-1": "operator"}
    server = start(runnable(commands[2], site), site.folder, "serve")
    try:
        wait_until(lambda: listening(console_port), server, timeout=120)
        with urllib.request.urlopen(f"http://127.0.0.1:{console_port}/console/login", timeout=10) as page:
            assert page.status == 200 and "通办网关" in page.read().decode()
    finally:
        assert stop(server) == 0, output(site.folder, "serve")[-2000:]
