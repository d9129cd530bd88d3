"""JupyterHub for a workshop of the course on one server (see workshop/README.md).

    sudo AIGC_HUB_PASSWORD='a long room password' AIGC_HUB_ADMIN_PASSWORD='another one' \
        jupyterhub -f workshop/jupyterhub_config.py

Every learner logs in with any username and the room's password, and gets:
- a single-user Jupyter server in the course's environment (the one this hub runs in), started as their own
  Unix user by SystemdSpawner (one cgroup each, so the memory and CPU limits below are enforced);
- a private, writable copy of the chapters in ``~/aigc-course`` (made on first start, never overwritten);
- workshop budgets (``AIGC_MODE=workshop``: each chapter runs in a few minutes, its text still true);
- an idle culler (``jupyterhub-idle-culler``) that stops servers nobody has used for an hour.

Every setting can be changed with an environment variable (``AIGC_HUB_*``, read below); the course's tests
start this same file with a dummy authenticator and a local spawner (tests/test_jupyterhub.py).
"""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 -- provided by JupyterHub when it loads this file

env = os.environ.get
HERE = Path(__file__).resolve().parent
COURSE = Path(env("AIGC_HUB_COURSE", str(HERE.parent)))        # a checkout of the course, read-only to learners
STATE = Path(env("AIGC_HUB_STATE", "/srv/aigc-hub"))             # the hub's database, cookie secret, pid file
STATE.mkdir(parents=True, exist_ok=True)
BIN = Path(sys.executable).parent                                 # the course's environment

# Per-user limits, from one learner's full-mode run of the heaviest chapter (workshop/README.md, "Sizing"):
# kernel peak RSS 1.2 GiB (chapter 09) + server 0.17 GiB -> a 3 GiB limit leaves room for a second kernel.
MEM_LIMIT = env("AIGC_HUB_MEM_LIMIT", "3G")
CPU_LIMIT = float(env("AIGC_HUB_CPU_LIMIT", "1"))
CULL_TIMEOUT = int(env("AIGC_HUB_CULL_TIMEOUT", "3600"))         # seconds of inactivity before a server stops

# ---------------------------------------------------------------------------------------- the hub itself
c.JupyterHub.bind_url = env("AIGC_HUB_URL", "http://:8000")
c.JupyterHub.hub_bind_url = env("AIGC_HUB_INTERNAL_URL", "http://127.0.0.1:8081")
c.ConfigurableHTTPProxy.api_url = env("AIGC_HUB_PROXY_API_URL", "http://127.0.0.1:8001")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True          # stopping the hub stops every learner's server and the proxy

# ------------------------------------------------------------------------------------------------ logins
c.JupyterHub.authenticator_class = env("AIGC_HUB_AUTH", "shared-password")
c.Authenticator.allow_all = True             # anyone with the room's password (the default authenticator)
c.Authenticator.admin_users = {env("AIGC_HUB_ADMIN", "instructor")}
c.SharedPasswordAuthenticator.user_password = env("AIGC_HUB_PASSWORD", "")
c.SharedPasswordAuthenticator.admin_password = env("AIGC_HUB_ADMIN_PASSWORD", "")
c.Authenticator.username_pattern = r"^[a-z][a-z0-9_-]{0,30}$"   # valid Unix user names

# -------------------------------------------------------------------------------------- learners' servers
c.JupyterHub.spawner_class = env("AIGC_HUB_SPAWNER", "systemdspawner.SystemdSpawner")
c.SystemdSpawner.dynamic_users = True        # a private Unix user per learner, created by systemd on start
c.SystemdSpawner.isolate_tmp = True
c.SystemdSpawner.isolate_devices = True
c.Spawner.mem_limit = MEM_LIMIT              # enforced by SystemdSpawner and KubeSpawner, not LocalProcessSpawner
c.Spawner.cpu_limit = CPU_LIMIT
c.Spawner.environment = {
    "AIGC_MODE": env("AIGC_HUB_MODE", "workshop"),
    "AIGC_COURSE_CHAPTERS": str(COURSE / "chapters"),
    "OMP_NUM_THREADS": str(max(1, int(CPU_LIMIT))),       # torch's threads = the cores this learner may use
    "JUPYTERHUB_ACTIVITY_INTERVAL": env("AIGC_HUB_ACTIVITY_INTERVAL", "60"),
}
# The learner's private copy, made as the learner (so they own it) before their server starts.
c.Spawner.cmd = ["sh", "-c", 'test -e "$HOME/aigc-course" || { mkdir -p "$HOME/aigc-course" && '
                 'cp -R "$AIGC_COURSE_CHAPTERS" "$HOME/aigc-course/chapters"; }; exec "$0" "$@"',
                 str(BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab/tree/aigc-course/chapters/00_setup_and_tour.ipynb"
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 60

# ------------------------------------------------------------------------------------------ idle culling
c.JupyterHub.services = [{
    "name": "idle-culler",
    "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={CULL_TIMEOUT}",
                f"--cull-every={max(5, min(300, CULL_TIMEOUT // 6))}", "--remove-named-servers=false"],
}]
c.JupyterHub.load_roles = [{
    "name": "idle-culler",
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    "services": ["idle-culler"],
}]
