"""The deploy files: systemd units that reload, keep state in their StateDirectory and are
sandboxed; a sysusers.d entry; a container image with a data volume and a health check; a
compose file that mounts the config, waits for a healthy Redis and runs an init."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from worker.config import load_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("wirewatch-*.service"))
ROLES = {"scheduler", "worker", "notifier", "websub", "archiver", "web"}
STATE = "/var/lib/wirewatch"
SANDBOX = {
    "NoNewPrivileges": "true",
    "CapabilityBoundingSet": "",
    "ProtectSystem": "strict",
    "ProtectHome": "true",
    "PrivateTmp": "true",
    "PrivateDevices": "true",
    "PrivateUsers": "true",
    "ProtectKernelTunables": "true",
    "ProtectKernelModules": "true",
    "ProtectControlGroups": "true",
    "ProtectProc": "invisible",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces": "true",
    "RestrictSUIDSGID": "true",
    "LockPersonality": "true",
    "MemoryDenyWriteExecute": "true",
    "SystemCallArchitectures": "native",
}


def unit_settings(path: Path) -> dict[str, list[str]]:
    """`Section.Key` -> every value given (systemd allows a key more than once)."""
    found: dict[str, list[str]] = defaultdict(list)
    section = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found[f"{section}.{key}"].append(value)
    return found


def test_every_role_has_a_unit() -> None:
    assert {p.stem.removeprefix("wirewatch-") for p in UNITS} == ROLES


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.stem)
def test_a_unit_reloads_keeps_state_in_its_state_directory_and_is_sandboxed(unit: Path) -> None:
    settings = unit_settings(unit)
    service = {k.removeprefix("Service."): v for k, v in settings.items()}
    role = unit.stem.removeprefix("wirewatch-")

    assert service["ExecStart"] == [
        f"/opt/wirewatch/.venv/bin/wirewatch {role} --config /etc/wirewatch"
    ]
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert service["StateDirectory"] == ["wirewatch"]
    assert "WIREWATCH_DATA_DIR=%S/wirewatch" in service["Environment"]
    assert "ReadWritePaths" not in service  # the state directory is the one writable place
    assert service["User"] == ["wirewatch"]
    for key, value in SANDBOX.items():
        assert service[key] == [value], key
    assert service["SystemCallFilter"] == ["@system-service", "~@privileged @resources"]


def test_the_data_dir_a_unit_gives_is_its_state_directory_not_the_config(tmp_path: Path) -> None:
    """The shipped config copied to /etc/wirewatch (here: tmp) under a unit's environment."""
    etc = tmp_path / "etc" / "wirewatch"
    shutil.copytree(ROOT / "config", etc, ignore=shutil.ignore_patterns("data"))
    [environment] = [
        v for v in unit_settings(UNITS[0])["Service.Environment"] if "WIREWATCH_DATA_DIR" in v
    ]
    name, _, value = environment.partition("=")
    env = {name: value.replace("%S", "/var/lib")}  # %S: systemd's state directory root

    assert load_config(etc, {}).data_dir == etc / "data"  # without the unit: under /etc
    assert load_config(etc, env).data_dir == Path(STATE)


def test_sysusers_creates_the_user_with_the_state_directory_as_home() -> None:
    lines = [
        shlex.split(line)
        for line in (DEPLOY / "sysusers.d" / "wirewatch.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines == [["u", "wirewatch", "-", "wirewatch media monitoring", STATE]]


def test_the_image_has_a_data_volume_a_health_check_and_runs_unprivileged() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(rf"^VOLUME {STATE}$", text, re.MULTILINE)
    assert re.search(rf"WIREWATCH_DATA_DIR={STATE}\b", text)
    assert re.search(r'^HEALTHCHECK .*\\\n\s+CMD \["wirewatch", "status"\]$', text, re.MULTILINE)
    assert re.search(r"^USER wirewatch$", text, re.MULTILINE)
    assert re.search(r"WIREWATCH_CONFIG=/etc/wirewatch\b", text)
    # pip builds the image's install from pyproject, which names these licence files.
    assert re.search(r"^COPY pyproject.toml README.md LICENSE NOTICE ./$", text, re.MULTILINE)


def test_compose_mounts_the_config_waits_for_a_healthy_redis_and_runs_an_init() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]

    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert set(services) == {"redis", *ROLES}
    for role in ROLES:
        service = services[role]
        assert service["command"] == [role]
        assert service["init"] is True, role
        assert service["depends_on"] == {"redis": {"condition": "service_healthy"}}, role
        assert "../config:/etc/wirewatch:ro" in service["volumes"], role


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (apt-get install systemd)"
)


@needs_systemd
def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    # The units name /opt/wirewatch/.venv/bin/wirewatch, absent here: verify copies that run
    # an executable that exists, so only real mistakes are reported.
    for unit in [*UNITS, DEPLOY / "systemd" / "wirewatch.target"]:
        text = unit.read_text(encoding="utf-8")
        (tmp_path / unit.name).write_text(
            text.replace("/opt/wirewatch/.venv/bin/wirewatch", "/bin/true"), encoding="utf-8"
        )
    result = subprocess.run(
        [str(SYSTEMD_ANALYZE), "verify", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@needs_systemd
@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.stem)
def test_systemd_analyze_security_rates_a_unit_ok(unit: Path) -> None:
    result = subprocess.run(
        [str(SYSTEMD_ANALYZE), "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", result.stdout)
    assert found is not None, result.stdout + result.stderr
    assert float(found[1]) < 4 and found[2] == "OK", found[0]


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="no systemd-sysusers")
def test_systemd_sysusers_accepts_the_entry(tmp_path: Path) -> None:
    result = subprocess.run(
        ["systemd-sysusers", f"--root={tmp_path}", "--dry-run", "-"],
        input=(DEPLOY / "sysusers.d" / "wirewatch.conf").read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Creating user 'wirewatch'" in result.stderr + result.stdout
