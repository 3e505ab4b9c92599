"""`agentlog hooks install|uninstall|status` on settings files that already hold hooks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

AGENTLOG = str(Path(sys.executable).with_name("agentlog"))

EXISTING = b"""{
    "model": "opus",
    "hooks": {
        "PreToolUse": [
            {"matcher": "Bash", "hooks": [{"type": "command", "command": "./scripts/check-bash.sh"}]}
        ],
        "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]
    },
    "permissions": {"allow": ["Bash(npm test)"]}
}
"""


def run(*args: str, project: Path, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(home), "XDG_STATE_HOME": str(home / "state")}
    return subprocess.run([AGENTLOG, "hooks", *args], capture_output=True, text=True, cwd=project, env=env, timeout=60)


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    return project, home


@pytest.mark.parametrize(
    "agent,rel,flag",
    [
        ("claude-code", ".claude/settings.local.json", "--local"),
        ("claude-code", ".claude/settings.json", "--project"),
        ("codex", ".codex/hooks.json", "--project"),
        ("claude-code", ".claude/settings.json", "--user"),
        ("codex", ".codex/hooks.json", "--user"),
    ],
)
def test_install_keeps_other_hooks_and_uninstall_restores_the_file_exactly(agent, rel, flag, dirs):
    project, home = dirs
    path = (home if flag == "--user" else project) / rel
    path.parent.mkdir(parents=True)
    path.write_bytes(EXISTING)
    assert run("install", agent, flag, project=project, home=home).returncode == 0
    settings = json.loads(path.read_bytes())
    commands = [h["command"] for groups in settings["hooks"].values() for g in groups for h in g["hooks"]]
    assert "./scripts/check-bash.sh" in commands and "notify-send done" in commands
    assert any(c.endswith(f"hook {agent} PreToolUse") for c in commands)
    assert settings["permissions"] == {"allow": ["Bash(npm test)"]} and settings["model"] == "opus"
    installed = path.read_bytes()
    assert "already installed" in run("install", agent, flag, project=project, home=home).stdout
    assert path.read_bytes() == installed  # idempotent
    status = run("status", agent, project=project, home=home)
    assert status.returncode == 0 and "installed" in status.stdout and "2 other hook(s) kept" in status.stdout
    assert run("uninstall", agent, flag, project=project, home=home).returncode == 0
    assert path.read_bytes() == EXISTING
    assert "not installed" in run("uninstall", agent, flag, project=project, home=home).stdout


def test_install_into_a_missing_file_and_uninstall_removes_it(dirs):
    """By default Claude Code's hooks go to the per-user settings.local.json: the command
    names this machine's agentlog, which has no place in the shared, committed settings.json."""
    project, home = dirs
    run("install", "claude-code", project=project, home=home)
    path = project / ".claude" / "settings.local.json"
    groups = json.loads(path.read_bytes())["hooks"]["PreToolUse"]
    assert groups[0]["matcher"] == "*" and groups[0]["hooks"][0]["type"] == "command"
    assert not (project / ".claude" / "settings.json").exists()
    run("uninstall", "claude-code", project=project, home=home)
    assert not path.exists()


def test_a_local_file_git_would_commit_gets_a_note(dirs):
    project, home = dirs
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    result = run("install", "claude-code", project=project, home=home)
    assert result.returncode == 0 and "git does not ignore" in result.stderr
    run("uninstall", "claude-code", project=project, home=home)
    (project / ".gitignore").write_text(".claude/settings.local.json\n")
    result = run("install", "claude-code", project=project, home=home)
    assert result.returncode == 0 and "git does not ignore" not in result.stderr
    assert "codex has no local settings file" in run("install", "codex", "--local", project=project, home=home).stderr


def test_codex_hooks_have_no_matcher(dirs):
    project, home = dirs
    run("install", "codex", project=project, home=home)
    hooks = json.loads((project / ".codex" / "hooks.json").read_bytes())["hooks"]
    assert set(hooks) >= {"SessionStart", "PreToolUse", "PostToolUse", "Stop", "UserPromptSubmit"}
    assert "matcher" not in hooks["PreToolUse"][0]


def test_edited_after_install_removes_only_agentlogs_entries(dirs):
    project, home = dirs
    path = project / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_bytes(EXISTING)
    run("install", "claude-code", "--project", project=project, home=home)
    settings = json.loads(path.read_bytes())
    settings["env"] = {"FOO": "1"}
    path.write_text(json.dumps(settings))
    result = run("uninstall", "claude-code", "--project", project=project, home=home)
    assert "edited since install" in result.stdout
    after = json.loads(path.read_bytes())
    assert after["env"] == {"FOO": "1"}
    assert after["hooks"] == json.loads(EXISTING)["hooks"]


def test_dry_run_changes_nothing_and_bad_json_is_refused(dirs):
    project, home = dirs
    result = run("install", "claude-code", "--dry-run", project=project, home=home)
    assert result.returncode == 0 and '"PreToolUse"' in result.stdout
    assert not (project / ".claude").exists()
    (project / ".claude").mkdir()
    (project / ".claude" / "settings.json").write_text("{broken")
    result = run("install", "claude-code", "--project", project=project, home=home)
    assert result.returncode == 1 and "not valid JSON" in result.stderr
    assert (project / ".claude" / "settings.json").read_text() == "{broken"


def test_status_without_anything_installed(dirs):
    project, home = dirs
    result = run("status", project=project, home=home)
    # claude-code, droid: 3 scopes; codex: 2 x 2 files; copilot-cli, cursor-agent, gemini-cli, qwen-code: 2 scopes
    assert result.returncode == 0 and result.stdout.count("not installed") == 18


CONFIG_TOML = b"""# my Codex settings
model = "gpt-5-codex"  # the default model

[features]
hooks = true

[[hooks.Stop]]
[[hooks.Stop.hooks]]
type = "command"
command = "notify-send done"
"""


def test_codex_config_toml_keeps_comments_and_hooks_and_uninstall_restores_it(dirs):
    import tomllib

    project, home = dirs
    path = project / ".codex" / "config.toml"
    path.parent.mkdir()
    path.write_bytes(CONFIG_TOML)
    assert run("install", "codex", "--toml", project=project, home=home).returncode == 0
    text = path.read_text()
    assert text.startswith(CONFIG_TOML.decode()[:40]) and "# the default model" in text  # layout kept
    config = tomllib.loads(text)
    commands = [h["command"] for groups in config["hooks"].values() for g in groups for h in g["hooks"]]
    assert "notify-send done" in commands and any(c.endswith("hook codex PreToolUse") for c in commands)
    assert config["model"] == "gpt-5-codex" and config["features"] == {"hooks": True}
    installed = path.read_bytes()
    assert "already installed" in run("install", "codex", "--toml", project=project, home=home).stdout
    assert path.read_bytes() == installed
    status = run("status", "codex", project=project, home=home).stdout
    assert f"installed (native client), 1 other hook(s) kept  {path}" in status
    assert not (project / ".codex" / "hooks.json").exists()
    run("uninstall", "codex", "--toml", project=project, home=home)
    assert path.read_bytes() == CONFIG_TOML


def test_codex_config_toml_edited_after_install_loses_only_agentlogs_entries(dirs):
    import tomllib

    project, home = dirs
    path = project / ".codex" / "config.toml"
    path.parent.mkdir()
    path.write_bytes(CONFIG_TOML)
    run("install", "codex", "--toml", project=project, home=home)
    path.write_text(path.read_text() + '\n[profiles.fast]\nmodel = "o4-mini"\n')
    assert "edited since install" in run("uninstall", "codex", "--toml", project=project, home=home).stdout
    config = tomllib.loads(path.read_text())
    assert config["hooks"] == tomllib.loads(CONFIG_TOML.decode())["hooks"]
    assert config["profiles"] == {"fast": {"model": "o4-mini"}} and "# the default model" in path.read_text()


def test_toml_is_refused_for_claude_code_and_bad_toml_is_left_alone(dirs):
    project, home = dirs
    result = run("install", "claude-code", "--toml", project=project, home=home)
    assert result.returncode == 2 and "settings.json only" in result.stderr
    path = project / ".codex" / "config.toml"
    path.parent.mkdir()
    path.write_text("[hooks\n")
    result = run("install", "codex", "--toml", project=project, home=home)
    assert result.returncode == 1 and "not valid TOML" in result.stderr and path.read_text() == "[hooks\n"


def test_a_private_settings_file_stays_private(dirs):
    project, home = dirs
    path = project / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_bytes(EXISTING)
    path.chmod(0o600)  # it may hold API keys under "env"
    run("install", "claude-code", "--project", project=project, home=home)
    assert path.stat().st_mode & 0o777 == 0o600
    run("uninstall", "claude-code", "--project", project=project, home=home)
    assert path.stat().st_mode & 0o777 == 0o600 and path.read_bytes() == EXISTING


@pytest.mark.parametrize(
    "agent,flag,rel,keys",
    [
        ("claude-code", "--project", "project/.mcp.json", ["mcpServers"]),
        ("claude-code", "--user", "home/.claude.json", ["mcpServers"]),
        ("claude-code", "--local", "home/.claude.json", ["projects", "<project>", "mcpServers"]),
        ("codex", "--user", "home/.codex/config.toml", ["mcp_servers"]),
    ],
)
def test_install_mcp_registers_the_server_beside_the_users_own_and_uninstall_takes_it_out(agent, flag, rel, keys, dirs):
    import tomllib

    project, home = dirs
    path = project.parent / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    load = (
        (lambda: tomllib.loads(path.read_text())) if path.suffix == ".toml" else (lambda: json.loads(path.read_text()))
    )
    mine = {"command": "other-server"}
    if path.suffix == ".toml":
        path.write_text('# mine\n[mcp_servers.other]\ncommand = "other-server"\n')
    else:
        path.write_text(json.dumps({"theme": "dark", "mcpServers": {"other": mine}}))
    done = run("install", agent, flag, "--mcp", project=project, home=home)
    assert done.returncode == 0, done.stderr
    table = load()
    for key in keys:
        table = table[str(project.resolve()) if key == "<project>" else key]
    assert table["agentlog"]["args"] == ["mcp"] and table["agentlog"]["command"].endswith("agentlog")
    assert load().get("mcpServers", load().get("mcp_servers"))["other"] == mine
    assert "already registered" in run("install", agent, flag, "--mcp", project=project, home=home).stdout
    assert run("uninstall", agent, flag, "--mcp", project=project, home=home).returncode == 0
    table = load()
    for key in keys:
        table = table.get(str(project.resolve()) if key == "<project>" else key, {})
    assert "agentlog" not in table
