#!/usr/bin/env bash
# One command for an instructor's machine (Ubuntu/Debian server, root, network): The Littlest JupyterHub
# (TLJH) with the course installed in every learner's environment, a private copy of the chapters in every new
# learner's home, workshop budgets, per-user limits and the idle culler. See workshop/README.md.
#
#   sudo bash workshop/install-tljh.sh instructor        # the admin's user name (sets a password on first login)
#
# Environment: AIGC_MEM_LIMIT (3G), AIGC_CPU_LIMIT (1), AIGC_CULL_TIMEOUT (3600 s).
set -euo pipefail
ADMIN=${1:?usage: sudo bash workshop/install-tljh.sh ADMIN_USERNAME}
COURSE=$(cd "$(dirname "$0")/.." && pwd)
MEM=${AIGC_MEM_LIMIT:-3G}
CPU=${AIGC_CPU_LIMIT:-1}
CULL=${AIGC_CULL_TIMEOUT:-3600}
[ "$(id -u)" = 0 ] || { echo "run as root (sudo)" >&2; exit 1; }

# 1. TLJH itself: JupyterHub, configurable-http-proxy (Traefik in TLJH), SystemdSpawner, the idle culler.
if ! command -v tljh-config >/dev/null 2>&1; then
    curl -fsSL https://tljh.jupyter.org/bootstrap.py | python3 - --admin "$ADMIN" --show-progress-page
fi

# 2. The course in the learners' environment (/opt/tljh/user), from this checkout.
/opt/tljh/user/bin/python -m pip install --quiet "$COURSE"

# 3. A private, writable copy of the chapters for every new learner: TLJH creates learners with
#    `useradd --create-home`, which copies /etc/skel into the new home.
rm -rf /etc/skel/aigc-course && mkdir -p /etc/skel/aigc-course
cp -R "$COURSE/chapters" /etc/skel/aigc-course/chapters

# 4. Limits (enforced by systemd cgroups), culling, JupyterLab by default.
tljh-config set limits.memory "$MEM"
tljh-config set limits.cpu "$CPU"
tljh-config set services.cull.enabled true
tljh-config set services.cull.timeout "$CULL"
tljh-config set services.cull.every 300
tljh-config set user_environment.default_app jupyterlab

# 5. Workshop budgets and one torch thread per allowed core, for every learner's server.
cat > /opt/tljh/config/jupyterhub_config.d/aigc-course.py <<PYEOF
c.Spawner.environment.update({"AIGC_MODE": "workshop", "OMP_NUM_THREADS": str(max(1, int(float("$CPU"))))})
c.Spawner.default_url = "/lab/tree/aigc-course/chapters/00_setup_and_tour.ipynb"
PYEOF

tljh-config reload
echo "Done: open http://$(hostname -I | awk '{print $1}')/ and log in as $ADMIN (choose the password now)."
