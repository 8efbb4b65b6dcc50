"""The deployment files in deploy/ (docs/deploy.md): each checked against its
format's schema, and the several-instance setup they describe run for real —
two gateways from deploy/config.yaml on one PostgreSQL and one Redis behind an
nginx using deploy/nginx.conf, driven by the openai SDK, one gateway killed
mid-load."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import kubernetes_validate
import openai
import pytest
import yaml

import services
from gateway_process import GatewayProcess, free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
MASTER = "sk-deploy-master-5678"
KUBERNETES_VERSION = "1.31.0"  # the oldest Kubernetes release still supported upstream when written


def _compose_problems(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
                           str(path)], capture_output=True, text=True, timeout=60)


def test_compose_file_follows_the_compose_spec(tmp_path):
    checked = _compose_problems(DEPLOY / "docker-compose.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The checker does refuse a broken file (so the pass above means something).
    broken = yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())
    broken["services"]["polyrelay"]["replica"] = 3  # a misspelt key
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(broken))
    assert _compose_problems(tmp_path / "compose.yaml").returncode != 0


def _manifests() -> list[dict]:
    return list(yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()))


def test_kubernetes_manifests_validate_strictly():
    kinds = []
    for manifest in _manifests():
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        kinds.append(manifest["kind"])
    assert kinds == ["ConfigMap", "Service", "Service", "StatefulSet", "PodDisruptionBudget"]
    statefulset = _manifests()[3]
    statefulset["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["prot"] = 4000  # a misspelt key
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(statefulset, KUBERNETES_VERSION, strict=True)


def test_every_deployment_file_runs_the_same_config():
    config_text = (DEPLOY / "config.yaml").read_text()
    assert _manifests()[0]["data"]["config.yaml"] == config_text
    compose = yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())
    assert compose["configs"]["polyrelay_config"]["file"] == "./config.yaml"
    # The probes and the spool directory point where the gateway really has them.
    container = _manifests()[3]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/liveliness"
    env = {item["name"]: item for item in container["env"]}
    spool_mount = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}["spool"]
    assert env["POLYRELAY_SPOOL_DIR"]["value"] == spool_mount
    assert compose["services"]["polyrelay"]["environment"]["POLYRELAY_SPOOL_DIR"] == spool_mount
    # The image installs from the hash-pinned lock only.
    dockerfile = (DEPLOY.parent / "Dockerfile").read_text()
    assert "--no-deps --require-hashes -r requirements.lock" in dockerfile


# ------------------------------------------------------------ the drill itself
def _nginx_config(ports: list[int], listen: int, workdir: Path) -> Path:
    """deploy/nginx.conf with the Docker service name replaced by the two local
    gateways, and paths an unprivileged test run can write."""
    text = (DEPLOY / "nginx.conf").read_text()
    servers = "".join(f"    server 127.0.0.1:{port} max_fails=0;\n" for port in ports)
    text, swapped = re.subn(r"    server polyrelay:4000 max_fails=0;\n", servers, text)
    assert swapped == 1
    text = text.replace("listen 4000;", f"listen 127.0.0.1:{listen};").replace("worker_processes auto;",
                                                                                "worker_processes 1;")
    head = (f"pid {workdir}/nginx.pid;\nerror_log {workdir}/error.log;\n"
            + ("user root;\n" if os.geteuid() == 0 else ""))
    text = head + text.replace("http {", f"http {{\n  access_log off;\n  client_body_temp_path {workdir}/body;\n"
                                         f"  proxy_temp_path {workdir}/proxy;", 1)
    path = workdir / "nginx.conf"
    path.write_text(text)
    return path


@pytest.fixture
def nginx_binary():
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if binary is None:
        pytest.fail("nginx is not installed (apt-get install nginx; .ci/run installs it)")
    return binary


def _wait(check, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    return check()


def test_two_instances_behind_nginx_share_limits_and_lose_no_spend(postgres_admin_url, redis_url, nginx_binary):
    database = services.new_database(postgres_admin_url, f"deploy_{uuid.uuid4().hex[:10]}")
    workdir = Path(tempfile.mkdtemp(prefix="polyrelay-deploy-"))
    config_text = (DEPLOY / "config.yaml").read_text()

    def instance(name: str) -> GatewayProcess:
        spool = workdir / f"spool-{name}"
        spool.mkdir(exist_ok=True)
        return GatewayProcess(config_text, env={"POLYRELAY_MASTER_KEY": MASTER, "DATABASE_URL": database,
                                                "REDIS_URL": redis_url, "POLYRELAY_SPOOL_DIR": str(spool),
                                                "OPENAI_API_KEY": "sk-unused"})

    east, west = instance("east").start(), instance("west")
    west.start()
    listen = free_port()
    nginx = subprocess.Popen([nginx_binary, "-p", str(workdir), "-c", str(_nginx_config([east.port, west.port],
                                                                                        listen, workdir)),
                              "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{listen}"
    try:
        assert _wait(lambda: _answers(base)), (workdir / "error.log").read_text(errors="replace")
        admin = {"Authorization": f"Bearer {MASTER}"}
        key = httpx.post(base + "/key/generate", json={"rpm_limit": 6}, headers=admin, timeout=10).json()["key"]
        client = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)

        answered, limited = [], 0
        for _ in range(8):  # nginx alternates the two instances; the rpm limit is one limit
            try:
                answered.append(_call(client))
            except openai.RateLimitError:
                limited += 1
        assert (len(answered), limited) == (6, 2)
        assert east.metric("polyrelay_requests_total", route="/chat/completions") >= 1
        assert west.metric("polyrelay_requests_total", route="/chat/completions") >= 1

        # A stream passes through nginx chunk by chunk, with its usage at the end.
        streamer = openai.OpenAI(base_url=base + "/v1", api_key=MASTER, max_retries=0)
        raw = streamer.chat.completions.with_raw_response.create(
            model="demo", messages=[{"role": "user", "content": "count to five"}], stream=True,
            stream_options={"include_usage": True})
        chunks = list(raw.parse())
        assert len(chunks) > 3 and chunks[-1].usage.total_tokens > 0
        streamed = raw.headers["x-polyrelay-call-id"]

        # kill -9 one instance mid-load: nginx sends every later call to the other.
        os.kill(west.proc.pid, signal.SIGKILL)
        west.proc.wait()
        after = [_call(streamer) for _ in range(6)]
        # The killed instance restarts on its own spool: what it had not stored yet is stored now.
        west.start()
        ids = set(answered) | set(after) | {streamed}

        def stored() -> list[dict]:
            logs = httpx.get(east.url + "/spend/logs", params={"page_size": 1000}, headers=admin, timeout=10).json()
            return [log for log in logs if log["request_id"] in ids]

        rows = _wait(lambda: len(found := stored()) >= len(ids) and found)
        assert rows, f"{len(stored())} of {len(ids)} calls recorded"
        assert sorted(r["request_id"] for r in rows) == sorted(ids)  # one row per answered call, none twice
    finally:
        nginx.send_signal(signal.SIGQUIT)
        try:
            nginx.wait(timeout=10)
        except subprocess.TimeoutExpired:
            nginx.kill()
        east.stop()
        west.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _call(client: openai.OpenAI) -> str:
    """One chat call; the gateway's id for it (what its spend row is filed under)."""
    raw = client.chat.completions.with_raw_response.create(model="demo", messages=[{"role": "user", "content": "hi"}])
    assert raw.parse().choices[0].message.content
    return raw.headers["x-polyrelay-call-id"]


def _answers(base: str) -> bool:
    try:
        return httpx.get(base + "/health/readiness", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
