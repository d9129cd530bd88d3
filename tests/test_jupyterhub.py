"""A workshop on JupyterHub, for real: the hub of workshop/jupyterhub_config.py with configurable-http-proxy,
the idle culler, two learners logged in through the REST API, chapter 00 executed in each learner's server
through the Jupyter server API (sessions + kernel websocket), and the walls between learners checked.

The hub runs with the config file a workshop uses, overridden only where a test must: the dummy authenticator
(one password), SimpleLocalProcessSpawner (homes under a temp dir; no system users, so the walls checked are
the hub's and the Jupyter server's, not Unix permissions), free ports, FAST mode, a 45 s cull timeout.

Needs ``jupyterhub``, ``jupyterhub-idle-culler`` and ``configurable-http-proxy`` (npm). Without them the
tests are skipped with a message, unless ``AIGC_REQUIRE_HUB=1`` (set by CI), which makes it a failure.
Every process started is stopped at the end, and the test checks that none survives. Every wait is bounded
(hub 60 s, each server 120 s, the chapter 240 s, culling 135 s, shutdown 60 s): at most about 12 minutes
in the worst case; 70-110 s on the 2-core machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = [pytest.mark.xdist_group("hub")]

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "workshop" / "jupyterhub_config.py"
CHAPTER = "aigc-course/chapters/00_setup_and_tour.ipynb"
PASSWORD = "workshop-test-password"
LEARNERS = ("alice", "bob")
CHAPTER_TIMEOUT = 240            # chapter 00 in FAST mode takes 10-25 s here
CULL_TIMEOUT = 45                # long enough for both chapters to run at once, short enough to wait for


def _require_programs() -> None:
    problems = []
    for module in ("jupyterhub", "jupyterhub_idle_culler", "requests", "tornado"):
        try:
            __import__(module)
        except ImportError:
            problems.append(f"the Python package {module} (pip install -e '.[dev]')")
    if shutil.which("configurable-http-proxy") is None:
        problems.append("configurable-http-proxy (npm install -g configurable-http-proxy)")
    if problems:
        message = "JupyterHub test needs " + ", ".join(problems)
        if os.environ.get("AIGC_REQUIRE_HUB") == "1":
            pytest.fail(f"{message} (AIGC_REQUIRE_HUB=1)")
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _default_signals() -> None:
    """In the hub's process: SIGINT as a terminal gives it. A pytest-xdist worker ignores SIGINT, children
    inherit that, and learners' servers that ignore SIGINT make the hub's shutdown wait for its timeouts."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Hub:
    """A running JupyterHub, its URL and an admin token (a service of the test)."""

    def __init__(self, tmp: Path):
        self.tmp, self.port, self.token = tmp, _free_port(), uuid.uuid4().hex
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "hub.log"
        (tmp / "test_config.py").write_text(f"""
c = get_config()
load_subconfig({str(CONFIG)!r})
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {PASSWORD!r}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(tmp / "home" / "{username}")!r}
c.Spawner.args = {["--allow-root"] if os.geteuid() == 0 else []!r}   # CI runs as root; learners never do
c.Spawner.environment.update({{"PYTHONPATH": {str(ROOT)!r}, "AIGC_DATA_DIR": {str(tmp / "data")!r}}})
c.JupyterHub.services.append({{"name": "test", "api_token": {self.token!r}}})
c.JupyterHub.load_roles.append({{"name": "test", "services": ["test"],
                                 "scopes": ["admin:users", "admin:servers", "list:users", "read:users",
                                            "list:services", "read:services"]}})
""")
        env = {**os.environ, "AIGC_HUB_STATE": str(tmp / "state"), "AIGC_HUB_URL": self.url,
               "AIGC_HUB_INTERNAL_URL": f"http://127.0.0.1:{_free_port()}",
               "AIGC_HUB_PROXY_API_URL": f"http://127.0.0.1:{_free_port()}", "AIGC_HUB_MODE": "fast",
               "AIGC_HUB_CULL_TIMEOUT": str(CULL_TIMEOUT), "AIGC_HUB_ACTIVITY_INTERVAL": "5",
               "AIGC_HUB_COURSE": str(ROOT), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        for name in ("AIGC_FAST", "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR"):
            env.pop(name, None)
        self.proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(tmp / "test_config.py")],
                                     cwd=tmp, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=_default_signals)

    def api(self, method: str, path: str, token: str | None = None, **kwargs):
        import requests

        headers = {"Authorization": f"token {token or self.token}"} if token != "" else {}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=30,
                                allow_redirects=False, **kwargs)

    def wait_until(self, what: str, ready, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the hub exited ({self.proc.returncode}) while waiting for {what}:\n"
                                     + self.log.read_text()[-4000:])
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}:\n" + self.log.read_text()[-4000:])

    def ours(self) -> list:
        """Every process this hub's run started that is still alive (hub, proxy, servers, kernels, culler)."""
        import psutil

        found = []
        for proc in psutil.process_iter(["pid", "cmdline", "cwd", "environ"]):
            try:
                text = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["cwd"] or "")
                environ = proc.info["environ"] or {}
            except psutil.Error:
                continue
            if str(self.tmp) in text or environ.get("AIGC_HUB_STATE") == str(self.tmp / "state") \
                    or str(self.tmp) in environ.get("HOME", ""):
                found.append(proc)
        alive = []
        for p in found:
            try:
                if p.pid != os.getpid() and p.status() != psutil.STATUS_ZOMBIE:   # a zombie holds nothing
                    alive.append(p)
            except psutil.Error:
                continue
        return alive

    def stop(self) -> float:
        """SIGTERM the hub (it stops the servers and the proxy itself); seconds it took. Kill what is left."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return time.monotonic() - t0


def _log_in(hub: Hub) -> dict[str, str]:
    """The two learners, created by the instructor's (admin) API and logged in by password: {name: token}."""
    assert hub.api("POST", "/hub/api/users", json={"usernames": list(LEARNERS)}).status_code == 201
    bad = hub.api("POST", "/hub/api/users/alice/tokens", token="",
                  json={"auth": {"username": "alice", "password": "wrong"}})
    assert bad.status_code == 403                                     # the password is checked
    tokens = {}
    for name in LEARNERS:
        r = hub.api("POST", f"/hub/api/users/{name}/tokens", token="",
                    json={"auth": {"username": name, "password": PASSWORD}, "note": "test login"})
        assert r.status_code == 201, r.text
        tokens[name] = r.json()["token"]
    for name, token in tokens.items():
        assert hub.api("POST", f"/hub/api/users/{name}/server", token=token).status_code in (201, 202)
    for name in LEARNERS:
        hub.wait_until(f"{name}'s server", lambda name=name: hub.api("GET", f"/hub/api/users/{name}")
                       .json()["servers"].get("", {}).get("ready", False), timeout=120)
    return tokens


def _message(msg_type: str, content: dict, session: str) -> dict:
    header = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": session, "username": "test",
              "date": "", "version": "5.3"}
    return {"header": header, "parent_header": {}, "metadata": {}, "content": content, "channel": "shell"}


async def _run_cells(ws_url: str, token: str, session: str, cells: list[str], timeout: float) -> list[str]:
    """Execute ``cells`` one by one on a kernel's websocket; the errors they raised (empty when all ran).
    ``timeout`` bounds the whole chapter, not each cell."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    deadline = asyncio.get_running_loop().time() + timeout
    ws = await websocket_connect(HTTPRequest(ws_url, headers={"Authorization": f"token {token}"}))
    errors = []
    try:
        for code in cells:
            request = _message("execute_request", {"code": code, "silent": False, "store_history": True,
                                                   "user_expressions": {}, "allow_stdin": False,
                                                   "stop_on_error": True}, session)
            await ws.write_message(json.dumps(request))
            while True:
                left = deadline - asyncio.get_running_loop().time()
                raw = await asyncio.wait_for(ws.read_message(), max(left, 0.001))
                assert raw is not None, "the kernel's websocket closed"
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != request["header"]["msg_id"]:
                    continue
                if msg["msg_type"] == "error":
                    errors.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")
                if msg["channel"] == "shell" and msg["msg_type"] == "execute_reply":
                    break
            if errors:
                break
    finally:
        ws.close()
    return errors


def _execute_chapter(hub: Hub, name: str, token: str) -> list[str]:
    """Open the learner's own copy of chapter 00 as JupyterLab does (a session) and run every code cell."""
    base = f"/user/{name}/api"
    nb = hub.api("GET", f"{base}/contents/{CHAPTER}", token=token, params={"content": "1"})
    assert nb.status_code == 200, f"{name} has no private copy of chapter 00: {nb.status_code}"
    cells = [c["source"] for c in nb.json()["content"]["cells"] if c["cell_type"] == "code"]
    session = hub.api("POST", f"{base}/sessions", token=token, json={
        "path": CHAPTER, "type": "notebook", "name": "", "kernel": {"name": "python3"}}).json()
    ws_url = (f"ws://127.0.0.1:{hub.port}{base}/kernels/{session['kernel']['id']}/channels"
              f"?session_id={session['id']}")
    return asyncio.run(_run_cells(ws_url, token, session["id"], cells, timeout=CHAPTER_TIMEOUT))


def _each_learner_runs_chapter_00_in_their_own_server(hub: Hub, learners: dict) -> None:
    t0 = time.monotonic()
    with ThreadPoolExecutor(len(learners)) as pool:          # at once, as in a room (and no one sits idle)
        errors = dict(zip(learners, pool.map(lambda item: _execute_chapter(hub, *item), learners.items())))
    print(f"chapter 00 in {len(learners)} learners' servers at once: {time.monotonic() - t0:.1f} s")
    assert errors == {name: [] for name in learners}, f"chapter 00 failed: {errors}"
    for name in learners:     # for the workshop's sizing notes: a learner's server and kernel after chapter 00
        home = str(hub.tmp / "home" / name)
        procs = [p for p in hub.ours() if (p.info["environ"] or {}).get("HOME") == home]
        server = [p for p in procs if "jupyterhub-singleuser" in " ".join(p.info["cmdline"] or [])]
        print(f"{name}: server RSS {sum(p.memory_info().rss for p in server) / 2**20:.0f} MiB, "
              f"server + kernel {sum(p.memory_info().rss for p in procs) / 2**20:.0f} MiB")
    for name in learners:
        home = hub.tmp / "home" / name
        assert (home / "aigc-course" / "chapters" / "01_generative_models.ipynb").is_file()   # a full copy
    # the copy is private: alice's edit does not reach bob's copy, nor the course's own file
    alice, bob = learners["alice"], learners["bob"]
    note = {"type": "file", "format": "text", "content": "alice's notes"}
    assert hub.api("PUT", "/user/alice/api/contents/aigc-course/notes.txt", token=alice, json=note).ok
    assert hub.api("GET", "/user/bob/api/contents/aigc-course/notes.txt", token=bob).status_code == 404


def test_the_workshop_files_agree_on_limits_and_culling():
    """The one-server config, the TLJH script and the Kubernetes values must give learners the same limits."""
    import re

    import yaml

    config = CONFIG.read_text()
    default = lambda name: re.search(rf'"{name}", "([^"]+)"', config).group(1)
    values = yaml.safe_load((ROOT / "workshop" / "z2jh-values.yaml").read_text())
    tljh = (ROOT / "workshop" / "install-tljh.sh").read_text()
    assert values["singleuser"]["memory"]["limit"] == default("AIGC_HUB_MEM_LIMIT") == \
        re.search(r"AIGC_MEM_LIMIT:-([^}]+)}", tljh).group(1)
    assert float(values["singleuser"]["cpu"]["limit"]) == float(default("AIGC_HUB_CPU_LIMIT")) == \
        float(re.search(r"AIGC_CPU_LIMIT:-([^}]+)}", tljh).group(1))
    assert values["cull"]["timeout"] == int(default("AIGC_HUB_CULL_TIMEOUT")) == \
        int(re.search(r"AIGC_CULL_TIMEOUT:-([^}]+)}", tljh).group(1))
    assert values["singleuser"]["extraEnv"]["AIGC_MODE"] == default("AIGC_HUB_MODE") == "workshop"
    assert subprocess.run(["bash", "-n", str(ROOT / "workshop" / "install-tljh.sh")]).returncode == 0


def _a_learner_cannot_reach_another_learners_server_or_files(hub: Hub, learners: dict) -> None:
    alice, bob = learners["alice"], learners["bob"]
    (hub.tmp / "home" / "bob" / "secret.txt").write_text("bob's answers")
    assert hub.api("GET", "/user/bob/api/contents/secret.txt", token=bob).status_code == 200       # control
    assert hub.api("GET", "/user/bob/api/contents/secret.txt", token=alice).status_code == 403
    assert hub.api("GET", "/user/bob/api/kernels", token=alice).status_code == 403
    for path in ("../bob/secret.txt", "..%2Fbob%2Fsecret.txt"):                  # out of her own server's root
        r = hub.api("GET", f"/user/alice/api/contents/{path}", token=alice)
        assert r.status_code in (400, 403, 404) and "bob's answers" not in r.text
    assert hub.api("GET", "/hub/api/users/bob", token=alice).status_code in (403, 404)
    assert hub.api("DELETE", "/user/bob/api/kernels", token=alice).status_code in (403, 405)
    assert hub.api("DELETE", "/hub/api/users/bob/server", token=alice).status_code in (403, 404)
    assert hub.api("GET", "/user/alice/api/contents", token="").status_code in (302, 403)   # no token, no entry


def _the_idle_culler_stops_idle_servers(hub: Hub) -> None:
    services = hub.api("GET", "/hub/api/services").json()
    assert "idle-culler" in services, services
    t0 = time.monotonic()
    hub.wait_until("the idle culler to stop both servers", lambda: all(
        not hub.api("GET", f"/hub/api/users/{name}").json()["servers"] for name in LEARNERS),
        timeout=CULL_TIMEOUT + 90)
    waited = time.monotonic() - t0
    print(f"idle servers culled {waited:.0f} s after the last request (timeout {CULL_TIMEOUT} s)")
    assert "Culling server" in hub.log.read_text() or "culling" in hub.log.read_text().lower()


@pytest.mark.slow
def test_a_workshop_on_jupyterhub(tmp_path):
    """One hub, start to finish (one test, so that no test runner can set it up twice or stop it midway)."""
    _require_programs()
    started = time.monotonic()
    hub = Hub(tmp_path)
    try:
        hub.wait_until("the hub's API", lambda: hub.api("GET", "/hub/api/").status_code == 200, timeout=60)
        learners = _log_in(hub)
        _each_learner_runs_chapter_00_in_their_own_server(hub, learners)
        _a_learner_cannot_reach_another_learners_server_or_files(hub, learners)
        _the_idle_culler_stops_idle_servers(hub)
    finally:
        seconds = hub.stop()
        left = hub.ours()
        for proc in left:
            proc.kill()
        print(f"\nJupyterHub test: {time.monotonic() - started:.0f} s in all, shut down in {seconds:.1f} s")
    assert not left, f"processes survived the hub's shutdown: {[p.info['cmdline'] for p in left]}"
