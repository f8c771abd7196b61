"""deploy/ agrees with the server: the ConfigMap is a valid config, probes ask the gRPC health
service for the real service name, the pod's grace outlasts the server's drain, and Envoy and
the Service point at the same port. (`make check-deploy` validates schemas and syntax.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from orchestrator_server.app import SERVICE_NAME
from orchestrator_server.config import parse_config

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"


def manifest(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((K8S / name).read_text(encoding="utf-8"))
    return data


def container() -> dict[str, Any]:
    spec = manifest("deployment.yaml")["spec"]["template"]["spec"]
    result: dict[str, Any] = spec["containers"][0]
    return result


def test_configmap_holds_a_valid_config_listening_on_the_container_port() -> None:
    text = manifest("configmap.yaml")["data"]["config.yaml"]
    config = parse_config(text, "deploy/k8s/configmap.yaml")
    port = container()["ports"][0]["containerPort"]
    assert config.server.address.endswith(f":{port}")


def test_probes_use_grpc_health_on_the_service() -> None:
    c = container()
    port = c["ports"][0]["containerPort"]
    assert c["readinessProbe"]["grpc"] == {"port": port, "service": SERVICE_NAME}
    assert c["livenessProbe"]["grpc"]["port"] == port
    assert c["startupProbe"]["grpc"]["port"] == port


def test_termination_grace_outlasts_pre_stop_and_drain() -> None:
    pod = manifest("deployment.yaml")["spec"]["template"]["spec"]
    config = parse_config(manifest("configmap.yaml")["data"]["config.yaml"], "configmap")
    pre_stop = float(container()["lifecycle"]["preStop"]["exec"]["command"][1])
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + config.server.grace_period + 2


def test_runs_as_the_images_non_root_user() -> None:
    pod = manifest("deployment.yaml")["spec"]["template"]["spec"]
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    user = re.search(r"^USER (\d+):(\d+)$", dockerfile, flags=re.M)
    assert user is not None
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == user.group(1)


def test_headless_service_selects_the_pods() -> None:
    service = manifest("service.yaml")
    labels = manifest("deployment.yaml")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["port"] == container()["ports"][0]["containerPort"]


def test_hpa_scales_the_deployment() -> None:
    target = manifest("hpa.yaml")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "orchestrator")


def test_envoy_balances_http2_to_the_headless_service_with_grpc_health_checks() -> None:
    envoy = yaml.safe_load((ROOT / "deploy" / "envoy" / "envoy.yaml").read_text("utf-8"))
    cluster = envoy["static_resources"]["clusters"][0]
    address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    socket = address["address"]["socket_address"]
    service = manifest("service.yaml")
    assert socket["address"].startswith(service["metadata"]["name"] + ".")
    assert socket["port_value"] == service["spec"]["ports"][0]["port"]
    assert cluster["type"] == "STRICT_DNS"  # every replica, not one connection to a VIP
    assert cluster["health_checks"][0]["grpc_health_check"]["service_name"] == SERVICE_NAME
    options = cluster["typed_extension_protocol_options"]
    http = options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    assert "http2_protocol_options" in http["explicit_http_config"]


def dockerfile_env() -> dict[str, str]:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    block = re.search(r"^ENV (.*?)(?<!\\)\n", dockerfile, flags=re.M | re.S)
    assert block is not None
    pairs = re.findall(r"(\w+)=(\S+)", block.group(1).replace("\\\n", " "))
    return dict(pairs)


def test_dockerfile_health_check_follows_the_listen_address() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    check = re.search(r"HEALTHCHECK .*\n\s+CMD (\[.*\])", dockerfile)
    assert check is not None
    # No address of its own: health-check looks where ORCHESTRATOR_LISTEN_ADDRESS says.
    assert yaml.safe_load(check.group(1)) == ["orchestrator", "health-check"]
    env = dockerfile_env()
    assert env["ORCHESTRATOR_LISTEN_ADDRESS"] == "0.0.0.0:50051"
    assert re.search(r'^CMD \["serve"\]$', dockerfile, flags=re.M)


def test_the_image_and_the_pods_serve_metrics() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    metrics = dockerfile_env()["ORCHESTRATOR_METRICS_ADDRESS"]
    assert metrics.startswith("0.0.0.0:")  # reachable from outside the container
    port = int(metrics.rsplit(":", 1)[1])
    assert re.search(rf"^EXPOSE 50051 {port}$", dockerfile, flags=re.M)

    config = parse_config(manifest("configmap.yaml")["data"]["config.yaml"], "configmap")
    assert config.telemetry.metrics.address == f"0.0.0.0:{port}"
    ports = {p["name"]: p["containerPort"] for p in container()["ports"]}
    assert ports["metrics"] == port
    annotations = manifest("deployment.yaml")["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": "/metrics",
    }
    service = manifest("service.yaml")
    service_ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert service_ports["metrics"]["targetPort"] == "metrics"
    monitor = yaml.safe_load(
        (ROOT / "deploy/prometheus-operator/servicemonitor.yaml").read_text(encoding="utf-8")
    )
    assert monitor["kind"] == "ServiceMonitor"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"


def test_the_deployed_config_keeps_admin_closed_and_every_secret_in_the_secret() -> None:
    config = parse_config(manifest("configmap.yaml")["data"]["config.yaml"], "configmap")
    assert config.reload.admin.token_env is None  # AdminService is not served
    assert config.auth is not None  # callers need keys
    secret = manifest("secret.example.yaml")
    names = set(secret["stringData"])
    variables = {k.key_env for k in config.auth.keys} | {
        env for p in config.providers if (env := getattr(p, "api_key_env", None))
    }
    assert variables <= names
    assert all(k.key_sha256 is None for k in config.auth.keys)  # keys from the Secret
    env_from = container()["envFrom"]
    assert {"secretRef": {"name": secret["metadata"]["name"]}} in env_from


def test_the_example_secret_cannot_be_used_as_a_caller_key() -> None:
    from orchestrator_server.auth.keys import MIN_KEY_CHARS

    config = parse_config(manifest("configmap.yaml")["data"]["config.yaml"], "configmap")
    assert config.auth is not None
    values = manifest("secret.example.yaml")["stringData"]
    for key in config.auth.keys:
        assert key.key_env is not None
        assert len(values[key.key_env]) < MIN_KEY_CHARS
