"""nginx in front of several OpenHITL replicas, configured by the reference deploy/nginx.conf."""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[1] / "deploy" / "nginx.conf"


def ensure_nginx() -> str:
    """The nginx binary; installed with apt-get (not started as a service) once if missing and we may."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("nginx is missing: trying `apt-get install -y nginx-light` once", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(
            ["apt-get", "install", "-y", "nginx-light"], env=env, check=False, stdout=subprocess.DEVNULL
        )
        if Path("/usr/sbin/nginx").exists():
            return "/usr/sbin/nginx"
    raise SystemExit("nginx is needed for the replicated benchmark: apt-get install nginx-light")


def render(*, listen: int, upstreams: list[str]) -> str:
    """deploy/nginx.conf with loopback addresses in place of the compose service names."""
    text = REFERENCE.read_text()
    servers = [line for line in text.splitlines() if line.strip().startswith("server openhitl-")]
    first = servers[0]
    indent = first[: len(first) - len(first.lstrip())]
    options = first.strip().split(" ", 2)[2]  # e.g. "max_fails=1 fail_timeout=5s;"
    text = text.replace(first, "\n".join(f"{indent}server {u} {options}" for u in upstreams))
    for line in servers[1:]:
        text = text.replace(line + "\n", "")
    return text.replace("listen 80;", f"listen 127.0.0.1:{listen};")


@contextmanager
def nginx(scratch: Path, *, listen: int, upstreams: list[str]) -> Iterator[int]:
    """Runs nginx until the block ends; yields its master's pid."""
    binary = ensure_nginx()
    prefix = scratch / "nginx"
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    config = prefix / "nginx.conf"
    config.write_text(render(listen=listen, upstreams=upstreams))
    settings = f"daemon off; pid {prefix / 'nginx.pid'}; error_log {prefix / 'error.log'};"
    command = [binary, "-p", str(prefix), "-c", str(config), "-g", settings]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
    if checked.returncode != 0:
        raise SystemExit(f"nginx rejected the configuration:\n{checked.stderr}")
    process = subprocess.Popen(command)
    try:
        yield process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)
