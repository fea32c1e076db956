"""docs/operations.md, run as written: its nginx configuration and its Caddyfile in front
of a real ``parley serve --trusted-proxy 127.0.0.1``, over TLS with a self-signed
certificate; its systemd units through ``systemd-analyze verify``; its metrics table
against what ``/metrics`` serves.

Only what cannot be the same on a test machine is changed in the configurations (the
server's name, the ports, the certificate's paths, the listening address), and each
change must find its text in the page, so that the page and the test cannot drift apart.

The clients connect from addresses of their own on the loopback network (127.0.0.3,
127.0.0.4, ...; the proxy listens on 127.0.0.2 and reaches Parley from 127.0.0.1), so
that the address Parley sees for each, through the proxy, can be told from the proxy's
own: ``--metrics-allow`` lets one client's address in and not the other's, and
``--max-connections-per-ip`` counts each client's sockets apart.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import os
import re
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from conftest import unavailable
from parley import migrations
from parley.client import Client
from parley.testing import ServerProcess
from round_trip import open_client, visit

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "operations.md").read_text()
INDEX = (ROOT / "src" / "parley" / "static" / "index.html").read_bytes()
NAME = "chat.example.test"
PROXY = "127.0.0.2"  # where the proxy listens
ALICE, BOB = "127.0.0.3", "127.0.0.4"  # where the clients connect from


def section(heading: str) -> str:
    """The text of the page under ``heading`` (a whole heading line), up to the next
    heading of the same or a higher level (lines in code blocks are not headings)."""
    level = len(heading.split(" ", 1)[0])
    lines = PAGE.splitlines(keepends=True)
    start = lines.index(heading + "\n")
    fenced = False
    for end in range(start + 1, len(lines)):
        line = lines[end]
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(rf"#{{1,{level}}} ", line):
            return "".join(lines[start:end])
    return "".join(lines[start:])


def blocks(heading: str, language: str) -> list[str]:
    """The fenced code blocks of ``language`` under ``heading``."""
    return re.findall(rf"```{language}\n(.*?)```", section(heading), re.S)


def replaced(text: str, *changes: tuple[str, str]) -> str:
    """``text`` with each change made; each must find what it replaces."""
    for old, new in changes:
        assert old in text, f"the page no longer has {old!r}"
        text = text.replace(old, new)
    return text


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((PROXY, 0))
        return int(probe.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            socket.create_connection((PROXY, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    text = log.read_text(errors="replace") if log.exists() else ""
    raise AssertionError(f"the proxy did not listen on {port} (exit {proc.poll()}):\n{text}")


@dataclass
class Certificate:
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """What a browser that trusts this certificate checks: chain and name."""
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for :data:`NAME`, made by openssl."""
    if shutil.which("openssl") is None:
        unavailable("openssl")
    where = tmp_path_factory.mktemp("tls")
    made = Certificate(where / "cert.pem", where / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", f"/CN={NAME}", "-addext",
         f"subjectAltName=DNS:{NAME}", "-keyout", str(made.key), "-out", str(made.cert)],
        check=True, capture_output=True, timeout=60)
    return made


def settings_file() -> dict[str, str]:
    """The variables of the page's settings file (/etc/parley/parley.env)."""
    body = re.search(r"<<'EOF'\n(.*?)\nEOF\n", section("### The settings file"), re.S)
    assert body is not None
    return dict(line.split("=", 1) for line in body[1].splitlines())


def unit_command(key: str) -> list[str]:
    """A command line of the page's systemd unit (``ExecStart``, ``ExecStartPre``), with
    this checkout's ``parley``."""
    (unit,) = blocks("## A systemd unit", "ini")
    (line,) = [x for x in unit.splitlines() if x.startswith(key + "=")]
    argv = shlex.split(line.split("=", 1)[1])
    assert argv[0] == "/opt/parley/bin/parley"
    return [str(Path(sys.executable).parent / "parley"), *argv[1:]]


@pytest.fixture
def parley(tmp_path: Path) -> Iterator[ServerProcess]:
    """Parley as the page runs it: the unit's ``ExecStartPre`` then its ``ExecStart``, with
    the settings file's variables (the data dir and the port the test's own). For the test,
    metrics for one client address, and two sockets per address, to see each client
    counted apart."""
    env = settings_file()
    assert env["PARLEY_DATA_DIR"] == "/var/lib/parley"
    assert env["PARLEY_TRUSTED_PROXY"] == "127.0.0.1"
    data = tmp_path / "data"
    env["PARLEY_DATA_DIR"] = str(data)
    data.mkdir(mode=0o700)
    migrated = subprocess.run(unit_command("ExecStartPre"), env={**os.environ, **env},
                              capture_output=True, text=True, timeout=120, check=False)
    assert (migrated.returncode, migrated.stdout) == (
        0, f"parley: the database is at {migrations.head()}\n"), migrated.stderr
    server = ServerProcess(data, "--metrics-allow", ALICE, "--max-connections-per-ip", "2",
                           env=env, command=unit_command("ExecStart")).start()
    yield server
    assert server.stop() == 0


#: ``run_proxy(command, log, env)``: the port the proxy listens on
RunProxy = Callable[[Callable[[int], list[str]], Path, dict[str, str]], int]


@pytest.fixture
def run_proxy() -> Iterator[RunProxy]:
    """``run_proxy(command, log, env)``: pick a free port, start the proxy ``command(port)``
    (which writes its configuration for that port) in a session of its own, and wait until
    it listens there; stopped after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def run(command: Callable[[int], list[str]], log: Path, env: dict[str, str]) -> int:
        port = free_port()
        argv = command(port)
        with log.open("ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=out, start_new_session=True,
                                    env={**os.environ, **env})
        started.append(proc)
        wait_listening(port, proc, log)
        return port

    yield run
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def nginx_config(tmp: Path, certificate: Certificate, port: int, upstream: int) -> Path:
    """The page's nginx site inside the little main configuration a test run needs."""
    site = replaced(
        blocks("### nginx", "nginx")[0],
        ("listen 443 ssl;", f"listen {PROXY}:{port} ssl;"),
        ("listen [::]:443 ssl;\n", ""),
        ("listen 80;", f"listen {PROXY}:{free_port()};"),
        ("listen [::]:80;\n", ""),
        ("chat.example.org;", f"{NAME};"),
        ("/etc/letsencrypt/live/chat.example.org/fullchain.pem", str(certificate.cert)),
        ("/etc/letsencrypt/live/chat.example.org/privkey.pem", str(certificate.key)),
        ("http://127.0.0.1:8080", f"http://127.0.0.1:{upstream}"),
    )
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "".join(f"    {kind}_temp_path {tmp / kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    config = tmp / "nginx.conf"
    config.write_text(
        f"{user}worker_processes 1;\npid {tmp / 'nginx.pid'};\n"
        f"error_log {tmp / 'proxy.log'} info;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n    access_log {tmp / 'access.log'};\n{temp}{site}}}\n")
    return config


def caddy_config(tmp: Path, certificate: Certificate, port: int, upstream: int) -> Path:
    """The page's Caddyfile, with the test's certificate, on the test's ports."""
    site = replaced(
        blocks("### Caddy", "caddyfile")[0],
        ("chat.example.org {\n",
         f"{NAME} {{\n    tls {certificate.cert} {certificate.key}\n    bind {PROXY}\n"),
        ("reverse_proxy 127.0.0.1:8080", f"reverse_proxy 127.0.0.1:{upstream}"),
    )
    config = tmp / "Caddyfile"
    config.write_text(
        "{\n    admin off\n    auto_https disable_redirects\n"
        f"    http_port {free_port()}\n    https_port {port}\n}}\n\n{site}")
    return config


class Front:
    """The proxy as a browser on one of the client addresses sees it."""

    def __init__(self, port: int, certificate: Certificate) -> None:
        self.port = port
        self.origin = f"https://{NAME}:{port}"
        self.tls = certificate.client_context()
        self.base = f"https://{PROXY}:{port}"

    def headers(self) -> dict[str, str]:
        return {"Host": f"{NAME}:{self.port}", "Origin": self.origin}

    async def socket(self, source: str) -> Client:
        return await open_client(f"wss://{PROXY}:{self.port}/ws", headers=self.headers(),
                                 tls=self.tls, server_hostname=NAME, local_address=source)

    async def get(self, path: str, source: str, **headers: str) -> tuple[int, bytes]:
        connector = aiohttp.TCPConnector(local_addr=(source, 0), force_close=True)
        async with aiohttp.ClientSession(connector=connector) as http, http.get(
                self.base + path, headers={**self.headers(), **headers}, ssl=self.tls,
                server_hostname=NAME) as response:
            return response.status, await response.read()


def noise_png() -> bytes:
    """A PNG that does not compress: over a MiB, more than nginx's default body limit."""
    image = Image.frombytes("RGB", (640, 600), os.urandom(640 * 600 * 3))
    out = io.BytesIO()
    image.save(out, "PNG")
    data = out.getvalue()
    assert 1024 * 1024 < len(data) < 5 * 1024 * 1024
    return data


async def through(front: Front, parley: ServerProcess) -> None:
    """Everything a newcomer's users do, through the proxy: the page, a chat over wss://
    with a browser's Origin, an image over a MiB; and what Parley sees of their
    addresses."""
    status, page = await front.get("/", ALICE)
    assert (status, page) == (200, INDEX)
    first, second = await front.socket(ALICE), await front.socket(ALICE)
    others: list[Client] = []
    try:
        await visit(first, second, "alice", "lobby")
        png = noise_png()
        url = f"/images/lobby/{hashlib.md5(png).hexdigest()}.png"
        await first.say(image=base64.b64encode(png).decode())
        for client in (first, second):
            frame = await client.recv()
            assert (frame["Command"], frame["Message"]["id"], frame["Message"]["image"]) == (
                "message", 2, url), frame
        assert await front.get(url, BOB) == (200, png)
        # Alice's address holds its two sockets: a third is refused, while Bob, through the
        # same proxy, is counted on his own.
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            others.append(await front.socket(ALICE))
        assert refused.value.status == 429
        others.append(await front.socket(BOB))
    finally:
        for client in (first, second, *others):
            await client.close()
    # /metrics is for Alice's address only; Bob forging it in X-Forwarded-For changes nothing.
    status, body = await front.get("/metrics", ALICE)
    assert status == 200
    assert b"parley_messages_stored_total 2.0" in body
    assert await front.get("/metrics", BOB) == (403, b"metrics are not served to your address\n")
    assert await front.get("/metrics", BOB, **{"X-Forwarded-For": ALICE}) == (
        403, b"metrics are not served to your address\n")
    assert parley.alive()


async def test_behind_nginx_as_the_page_says(
        tmp_path: Path, certificate: Certificate, parley: ServerProcess,
        run_proxy: RunProxy) -> None:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None:
        unavailable("nginx (scripts/services installs it)")
    log = tmp_path / "proxy.log"

    def command(port: int) -> list[str]:
        config = nginx_config(tmp_path, certificate, port, parley.port)
        return [str(nginx), "-p", str(tmp_path), "-c", str(config), "-e", str(log),
                "-g", "daemon off;"]

    port = await asyncio.to_thread(run_proxy, command, log, {})
    await through(Front(port, certificate), parley)


async def test_behind_caddy_as_the_page_says(
        tmp_path: Path, certificate: Certificate, parley: ServerProcess,
        run_proxy: RunProxy) -> None:
    if shutil.which("caddy") is None:
        unavailable("caddy (scripts/services installs it)")
    home = tmp_path / "home"
    log = tmp_path / "proxy.log"

    def command(port: int) -> list[str]:
        config = caddy_config(tmp_path, certificate, port, parley.port)
        return ["caddy", "run", "--adapter", "caddyfile", "--config", str(config)]

    port = await asyncio.to_thread(
        run_proxy, command, log, {"HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
                                  "XDG_CONFIG_HOME": str(home / "config")})
    await through(Front(port, certificate), parley)


def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        unavailable("systemd-analyze (scripts/services installs systemd)")
    parley = str(Path(sys.executable).parent / "parley")
    (service,) = blocks("## A systemd unit", "ini")
    backups = blocks("## Backups", "ini")
    (backup_service,) = [b for b in backups if "[Service]" in b]
    (timer,) = [b for b in backups if "[Timer]" in b]
    units = {"parley.service": service, "parley-backup.service": backup_service,
             "parley-backup.timer": timer}
    for name, text in units.items():
        # The page's parley (/opt/parley/bin/parley) is this checkout's.
        (tmp_path / name).write_text(re.sub(r"/opt/parley\S*/bin/parley\b", parley, text))
    assert "ExecStartPre=/opt/parley/bin/parley migrate" in service
    for option in ("Restart=on-failure", "User=parley", "NoNewPrivileges=yes",
                   "ProtectSystem=strict", "ReadWritePaths=/var/lib/parley", "PrivateTmp=yes",
                   "ProtectHome=yes", "LimitNOFILE=65536"):
        assert f"\n{option}\n" in service, option
    assert "/bin/parley backup " in backup_service
    assert "\nOnCalendar=" in timer
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(tmp_path / n) for n in units)],
        capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_metrics_table_names_every_metric_served(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        served = asyncio.run(_types(server.http + "/metrics"))
    finally:
        assert server.stop() == 0
    rows = re.findall(r"^\| `(parley_[a-z_]+)(?:\{[^}]*\})?` \| (\w+) \|", section("## Metrics"),
                      re.M)
    documented = dict(rows)
    assert len(rows) == len(documented)
    assert documented == {name: kind for name, kind in served.items()
                          if not name.endswith("_created")}
    assert all(name.endswith("_created") or name in documented for name in served)


async def _types(url: str) -> dict[str, str]:
    """``# TYPE`` of every metric a server serves."""
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        text = await response.text()
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))


def test_every_link_of_the_page_finds_its_heading() -> None:
    """Links within the page, and from the README and the other docs into it, name
    headings it has (GitHub's anchors: lower case, punctuation dropped, spaces to '-')."""
    anchors, fenced = set(), False
    for line in PAGE.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    links = re.findall(r"\]\(#([^)]+)\)", PAGE)
    for other in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        links += re.findall(r"operations\.md#([^)]+)\)", other.read_text())
    assert len(links) > 10
    assert sorted(set(links) - anchors) == []
    assert not (ROOT / "docs" / "deployment.md").exists()
