"""Write tests/data/agent_errors.jsonl: agent-style error messages labelled by their event.

Each event below is one way a tool fails (git, npm, pip, pytest, cargo, docker, HTTP APIs,
rate limits, shells, tracebacks, ...), written as the tool writes it, with its variable
parts drawn from pools: user, branch, package and service names (words, no digits),
durations in several units, dates with weekday and month names, optional parts, lists of
any length.  Some events differ from others by one word only (``npm ERR! code ENOTFOUND`` /
``EACCES``, ``Username`` / ``Password``, ``SOCKS5`` / ``HTTPS``, an empty ``base_url=``):
those must stay apart.  The label is the event, the way a person reading the logs would
group them; the miner was not tuned on this file.  Deterministic (fixed seed):

    .venv/bin/python scripts/gen_agent_errors.py > tests/data/agent_errors.jsonl
"""

from __future__ import annotations

import json
import random

USERS = "root git ubuntu admin dev alice bob jenkins runner postgres mysql deploy ci node build oracle".split()
BRANCHES = "main master develop feature/login fix/typo release-candidate hotfix/auth chore/deps docs staging".split()
PY_PACKAGES = "requests numpy pandas torch fastapi pydantic httpx sqlalchemy uvicorn boto3 scipy rich click".split()
JS_PACKAGES = "react lodash express left-pad typescript eslint vite next axios webpack zod prettier".split()
CRATES = "serde tokio anyhow clap reqwest rand thiserror hyper tracing regex".split()
CONTAINERS = "web db redis worker api proxy scheduler frontend backend cache".split()
IMAGES = "ubuntu:22.04 node:20-alpine python:3.12-slim postgres:16 redis:7 nginx:1.25 golang:1.22".split()
MODELS = "gpt-4o gpt-4.1-mini claude-sonnet-4-5 o3-mini gemini-2.5-pro gpt-4o-2024-08-06".split()
SERVICES = (
    "com.example.worker org.acme.billing.api io.agentlog.watchdog net.corp.auth.session "
    "dev.tools.indexer com.apple.mdworker org.mozilla.updater"
).split()
HOSTS = "github.com registry.npmjs.org pypi.org api.openai.com api.anthropic.com gitlab.internal".split()
ORGS = "acme octo-org agentlog example-inc".split()
REPOS = "api web agent tools infra docs".split()
TESTS = (
    "test_login test_logout test_parse_empty test_retry_backoff test_cache_hit test_export_csv "
    "test_rate_limit test_unicode_names"
).split()
MODULES = "api auth cache cli export parser models utils".split()
FILES = "src/app.py src/utils/io.py lib/index.ts tests/test_api.py src/main.rs cmd/server/main.go".split()
COMMANDS = "rg jq fd bat uv pnpm deno poetry tree htop".split()
TARGETS = "build test lint install all release".split()
FUNCTIONS = "parse_config main run_task load_model connect render".split()
ATTRIBUTES = "name id items json status_code text".split()
STATES = "queued running failed cancelled succeeded".split()
SHELL_COMMANDS = ["npm test", "pytest -x tests", "make build", "cargo test --all", "go test ./...", "tsc --noEmit"]
WEEKDAYS = "Mon Tue Wed Thu Fri Sat Sun".split()
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def duration(r: random.Random) -> str:
    n = r.randint(1, 59)
    return r.choice(
        [f"{n}s", f"{n * 17}ms", f"{n / 7:.1f}s", f"{n} seconds", f"{n % 5 + 1}m{n}s", f"{n % 9 + 1} minutes"]
    )


def ctime(r: random.Random) -> str:  # Sun Jul  3 10:05:25 2005
    return (
        f"{r.choice(WEEKDAYS)} {r.choice(MONTHS)} {r.randint(1, 28):>2} "
        f"{r.randint(0, 23):02}:{r.randint(0, 59):02}:{r.randint(0, 59):02} {r.randint(2019, 2025)}"
    )


def http_date(r: random.Random) -> str:  # Wed, 21 Oct 2015 07:28:00 GMT
    return (
        f"{r.choice(WEEKDAYS)}, {r.randint(1, 28):02} {r.choice(MONTHS)} {r.randint(2019, 2025)} "
        f"{r.randint(0, 23):02}:{r.randint(0, 59):02}:{r.randint(0, 59):02} GMT"
    )


def iso(r: random.Random) -> str:
    return f"{r.randint(2019, 2025)}-{r.randint(1, 12):02}-{r.randint(1, 28):02}T{r.randint(0, 23):02}:{r.randint(0, 59):02}:00Z"


def ip(r: random.Random) -> str:
    return ".".join(str(r.randint(1, 254)) for _ in range(4))


def sha(r: random.Random, n: int = 7) -> str:
    return "".join(r.choice("0123456789abcdef") for _ in range(n))


def versions(r: random.Random) -> str:
    count = r.randint(0, 5)
    return ", ".join(f"{r.randint(0, 3)}.{r.randint(0, 20)}.{r.randint(0, 9)}" for _ in range(count)) or "none"


def repo_url(r: random.Random) -> str:
    return f"https://github.com/{r.choice(ORGS)}/{r.choice(REPOS)}.git"


# event -> message maker; one maker per event, the label is the key.
EVENTS = {
    "git_not_repo": lambda r: "fatal: not a git repository (or any of the parent directories): .git",
    "git_push_rejected": lambda r: f"error: failed to push some refs to '{repo_url(r)}'",
    "git_pathspec": lambda r: f"error: pathspec '{r.choice(BRANCHES)}' did not match any file(s) known to git",
    "git_no_remote_ref": lambda r: f"fatal: couldn't find remote ref {r.choice(BRANCHES)}",
    "git_permission_denied_to_user": lambda r: (
        f"ERROR: Permission to {r.choice(ORGS)}/{r.choice(REPOS)}.git denied to {r.choice(USERS)}."
    ),
    "git_merge_conflict": lambda r: f"CONFLICT (content): Merge conflict in {r.choice(FILES)}",
    "git_index_lock": lambda r: f"fatal: Unable to create '/work/{r.choice(REPOS)}/.git/index.lock': File exists.",
    "git_no_username": lambda r: "fatal: could not read Username for 'https://github.com': terminal prompts disabled",
    "git_no_password": lambda r: (
        f"fatal: could not read Password for 'https://{r.choice(USERS)}@github.com': terminal prompts disabled"
    ),
    "git_checkout_branch_exists": lambda r: f"fatal: a branch named '{r.choice(BRANCHES)}' already exists",
    "npm_code_enotfound": lambda r: "npm ERR! code ENOTFOUND",
    "npm_code_eacces": lambda r: "npm ERR! code EACCES",
    "npm_code_etimedout": lambda r: "npm ERR! code ETIMEDOUT",
    "npm_code_eresolve": lambda r: "npm ERR! code ERESOLVE",
    "npm_404": lambda r: f"npm ERR! 404 Not Found - GET https://registry.npmjs.org/{r.choice(JS_PACKAGES)} - Not found",
    "npm_missing_script": lambda r: f'npm ERR! Missing script: "{r.choice(TARGETS)}"',
    "node_cannot_find_module": lambda r: f"Error: Cannot find module '{r.choice(JS_PACKAGES)}'",
    "pip_no_matching_distribution": lambda r: f"ERROR: No matching distribution found for {r.choice(PY_PACKAGES)}",
    "pip_no_version": lambda r: (
        f"ERROR: Could not find a version that satisfies the requirement "
        f"{r.choice(PY_PACKAGES)}=={r.randint(1, 9)}.{r.randint(0, 9)} (from versions: {versions(r)})"
    ),
    "python_module_not_found": lambda r: f"ModuleNotFoundError: No module named '{r.choice(PY_PACKAGES)}'",
    "python_missing_argument": lambda r: (
        f"TypeError: {r.choice(FUNCTIONS)}() missing 1 required positional argument: '{r.choice(ATTRIBUTES)}'"
    ),
    "python_no_attribute": lambda r: f"AttributeError: 'NoneType' object has no attribute '{r.choice(ATTRIBUTES)}'",
    "python_key_error": lambda r: f"KeyError: '{r.choice(ATTRIBUTES)}'",
    "python_traceback_value_error": lambda r: (
        "Traceback (most recent call last):\n"
        f'  File "/work/{r.choice(FILES)}", line {r.randint(1, 400)}, in {r.choice(FUNCTIONS)}\n'
        "    value = int(raw)\n"
        f"ValueError: invalid literal for int() with base 10: '{r.choice(ATTRIBUTES)}'\n"
    ),
    "python_file_not_found": lambda r: (
        f"FileNotFoundError: [Errno 2] No such file or directory: '/work/{r.choice(REPOS)}/{r.choice(FILES)}'"
    ),
    "pytest_failed_assert": lambda r: (
        f"FAILED tests/test_{r.choice(MODULES)}.py::{r.choice(TESTS)} - "
        f"AssertionError: assert {r.randint(0, 99)} == {r.randint(0, 99)}"
    ),
    "pytest_collect_error": lambda r: (
        f"ERROR tests/test_{r.choice(MODULES)}.py - ModuleNotFoundError: No module named '{r.choice(PY_PACKAGES)}'"
    ),
    "pytest_summary": lambda r: (
        "=== "
        + ", ".join(
            part
            for part in (
                f"{r.randint(1, 9)} failed",
                f"{r.randint(1, 90)} passed" if r.random() < 0.7 else "",
                f"{r.randint(1, 9)} warnings" if r.random() < 0.4 else "",
            )
            if part
        )
        + f" in {r.randint(1, 90)}.{r.randint(10, 99)}s ==="
    ),
    "cargo_unresolved_import": lambda r: (
        f"error[E0432]: unresolved import `{r.choice(CRATES)}::{r.choice(ATTRIBUTES)}`"
    ),
    "cargo_could_not_compile": lambda r: (
        f"error: could not compile `{r.choice(CRATES)}` (lib) due to "
        + r.choice(["1 previous error", f"{r.randint(2, 30)} previous errors"])
    ),
    "cargo_no_matching_package": lambda r: f"error: no matching package named `{r.choice(CRATES)}` found",
    "docker_no_such_container": lambda r: f"Error response from daemon: No such container: {r.choice(CONTAINERS)}",
    "docker_image_not_found": lambda r: f"Unable to find image '{r.choice(IMAGES)}' locally",
    "docker_port_allocated": lambda r: (
        f"Error response from daemon: driver failed programming external connectivity on endpoint "
        f"{r.choice(CONTAINERS)} ({sha(r, 64)}): Bind for 0.0.0.0:{r.choice([80, 443, 5432, 6379, 8080])} "
        f"failed: port is already allocated"
    ),
    "docker_daemon_down": lambda r: (
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
    ),
    "docker_container_exited": lambda r: (
        f"container {r.choice(CONTAINERS)} exited with code {r.choice([1, 2, 126, 127, 137, 139])}"
    ),
    "http_404": lambda r: f"404 Client Error: Not Found for url: https://{r.choice(HOSTS)}/v1/{r.choice(MODULES)}",
    "http_401": lambda r: f"401 Client Error: Unauthorized for url: https://{r.choice(HOSTS)}/v1/{r.choice(MODULES)}",
    "http_500": lambda r: (
        f"500 Server Error: Internal Server Error for url: https://{r.choice(HOSTS)}/v1/{r.choice(MODULES)}"
    ),
    "rate_limit_tpm": lambda r: (
        f"Rate limit reached for {r.choice(MODELS)} in organization org-{sha(r, 12)} on tokens per min (TPM): "
        f"Limit {r.choice([30000, 90000, 200000])}, Used {r.randint(1000, 90000)}, Requested {r.randint(100, 9000)}. "
        f"Please try again in {duration(r)}. Visit https://platform.openai.com/account/rate-limits to learn more."
    ),
    "rate_limit_rpm": lambda r: (
        f"Rate limit reached for {r.choice(MODELS)} in organization org-{sha(r, 12)} on requests per min (RPM): "
        f"Limit {r.choice([500, 5000])}, Used {r.randint(100, 5000)}, Requested 1. "
        f"Please try again in {duration(r)}. Visit https://platform.openai.com/account/rate-limits to learn more."
    ),
    "rate_limit_retry_after": lambda r: f"429 Too Many Requests: retry after {duration(r)}",
    "rate_limit_retry_at": lambda r: f"429 Too Many Requests (Retry-After: {http_date(r)})",
    "anthropic_overloaded": lambda r: (
        "anthropic.InternalServerError: Error code: 529 - {'type': 'error', "
        "'error': {'type': 'overloaded_error', 'message': 'Overloaded'}}"
    ),
    "openai_connection_error": lambda r: "openai.APIConnectionError: Connection error.",
    "anthropic_connection_error": lambda r: "anthropic.APIConnectionError: Connection error.",
    "model_not_found": lambda r: f"The model `{r.choice(MODELS)}` does not exist or you do not have access to it.",
    "proxy_https_failed": lambda r: f"proxy {r.choice(HOSTS)}:{r.randint(1024, 9999)} via HTTPS: handshake failed",
    "proxy_socks5_failed": lambda r: f"proxy {r.choice(HOSTS)}:{r.randint(1024, 9999)} via SOCKS5: handshake failed",
    "ssh_connection_refused": lambda r: f"ssh: connect to host {r.choice(HOSTS)} port 22: Connection refused",
    "ssh_last_login": lambda r: f"Last login: {ctime(r)} from {ip(r)}",
    "ssh_failed_password": lambda r: (
        f"Failed password for {r.choice(USERS)} from {ip(r)} port {r.randint(1024, 65000)} ssh2"
    ),
    "pam_auth_failure_console": lambda r: (
        f"pam_unix(login:auth): authentication failure; logname= uid=0 euid=0 "
        f"tty=:0 ruser= rhost= user={r.choice(USERS)}"
    ),
    "pam_auth_failure_ssh": lambda r: (
        f"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
        f"tty=ssh ruser= rhost={ip(r)} user={r.choice(USERS)}"
    ),
    "config_empty_base_url": lambda r: f"invalid provider config: base_url= model={r.choice(MODELS)}",
    "config_bad_base_url": lambda r: (
        f"invalid provider config: base_url=https://{r.choice(HOSTS)}:{r.randint(1, 99)}/v1 model={r.choice(MODELS)}"
    ),
    "shell_command_not_found": lambda r: f"bash: {r.choice(COMMANDS)}: command not found",
    "sandbox_denied": lambda r: f"sandbox: command denied by policy: {r.choice(COMMANDS)}",
    "command_timed_out": lambda r: f"Command timed out after {duration(r)}: {r.choice(SHELL_COMMANDS)}",
    "make_target_failed": lambda r: (
        f"make: *** [Makefile:{r.randint(3, 90)}: {r.choice(TARGETS)}] Error {r.randint(1, 2)}"
    ),
    "tsc_not_assignable": lambda r: (
        f"src/{r.choice(MODULES)}.ts({r.randint(1, 300)},{r.randint(1, 80)}): error TS2322: "
        f"Type '{r.choice(['string', 'number', 'boolean'])}' is not assignable to type "
        f"'{r.choice(['Date', 'User', 'never'])}'."
    ),
    "tsc_argument_type": lambda r: (
        f"src/{r.choice(MODULES)}.ts({r.randint(1, 300)},{r.randint(1, 80)}): error TS2345: "
        f"Argument of type '{r.choice(['string', 'number'])}' is not assignable to "
        f"parameter of type '{r.choice(['Options', 'never'])}'."
    ),
    "go_module_404": lambda r: (
        f"go: github.com/{r.choice(ORGS)}/{r.choice(REPOS)}@v{r.randint(0, 3)}.{r.randint(0, 20)}.0: "
        f"reading https://proxy.golang.org/github.com/{r.choice(ORGS)}/@v/list: 404 Not Found"
    ),
    "k8s_backoff": lambda r: (
        f"Back-off restarting failed container {r.choice(CONTAINERS)} in pod "
        f"{r.choice(CONTAINERS)}-{sha(r, 10)}-{sha(r, 5)}"
    ),
    "service_failed_to_start": lambda r: (
        f"launchctl: service {r.choice(SERVICES)} failed to start: exit code {r.randint(1, 255)}"
    ),
    "job_status_changed": lambda r: f"job {r.randint(1000, 99999)} status changed to {r.choice(STATES)}",
    "cert_expired": lambda r: (
        f"x509: certificate has expired or is not yet valid: current time {iso(r)} is after {iso(r)}"
    ),
    "oom_killed": lambda r: (
        f"Out of memory: Killed process {r.randint(100, 99999)} ({r.choice(COMMANDS + ['node', 'java'])}) "
        f"total-vm:{r.randint(10**5, 10**7)}kB, anon-rss:{r.randint(10**5, 10**7)}kB, file-rss:0kB"
    ),
    "disk_full": lambda r: f"OSError: [Errno 28] No space left on device: '/tmp/{r.choice(REPOS)}-{sha(r)}'",
    "context_length": lambda r: (
        f"This model's maximum context length is {r.choice([8192, 128000, 200000])} tokens. "
        f"However, your messages resulted in {r.randint(8200, 300000)} tokens. "
        "Please reduce the length of the messages."
    ),
}


def main() -> None:
    r = random.Random(17)
    for rank, (event, make) in enumerate(EVENTS.items()):
        count = max(1, int(60 / (1 + rank % 13)))  # a few frequent events, many rare ones
        for _ in range(count):
            print(json.dumps({"message": make(r), "event": event}))


if __name__ == "__main__":
    main()
