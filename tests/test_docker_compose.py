"""docker-compose.yml is accepted by Compose (no engine is needed for `config`)."""

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV = {
    "SECRET_KEY": "s",
    "PORTAL_SECRETS_KEY": "k",
    "POSTGRES_PASSWORD": "p",
    "PATH": "/usr/bin:/bin",
}


def compose_config(*extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    argv = ["docker-compose"] if shutil.which("docker-compose") else ["docker", "compose"]
    return subprocess.run(
        [*argv, "-f", str(REPO / "docker-compose.yml"), "config", *extra],
        capture_output=True,
        text=True,
        env=ENV if env is None else env,
        check=False,
    )


def test_compose_file_defines_the_services():
    result = compose_config("--services")
    assert result.returncode == 0, result.stderr
    services = {"web", "worker-collect", "worker-changes", "beat", "redis", "postgres"}
    assert set(result.stdout.split()) == services


def test_each_queue_has_its_own_worker():
    result = compose_config()
    assert result.returncode == 0, result.stderr
    assert "worker -Q collect " in result.stdout
    assert "worker -Q changes " in result.stdout


def test_compose_refuses_to_start_without_secrets():
    result = compose_config(env={"PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_every_long_running_service_but_beat_has_a_health_check():
    result = compose_config()
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("healthcheck:") == 5


def test_redis_keeps_its_queue_across_restarts():
    result = compose_config()
    assert result.returncode == 0, result.stderr
    assert "--appendonly" in result.stdout and "redisdata" in result.stdout
