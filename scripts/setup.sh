#!/usr/bin/env bash
# Install what videofactory needs, idempotently: system packages (ffmpeg, espeak-ng, fonts;
# with --services also PostgreSQL and Redis, started when down) and the virtual environment.
# A second run with nothing missing takes about a second.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
services=0
quiet=0
for arg in "$@"; do
  case "$arg" in
    --services) services=1 ;;
    --quiet) quiet=1 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

say() { [ "$quiet" = 1 ] || echo "setup: $*" >&2; }
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "setup: need root (or sudo) to run: $*" >&2; exit 1
  fi
}

# --- system packages -------------------------------------------------------------------
missing=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
command -v espeak-ng >/dev/null || missing+=(espeak-ng libespeak-ng1)
[ -f /usr/share/fonts/truetype/noto/NotoSans-Bold.ttf ] || missing+=(fonts-noto-core)
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc ] || missing+=(fonts-noto-cjk)
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing+=(fonts-noto-color-emoji)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] || missing+=(fonts-dejavu-core)
if [ "$services" = 1 ]; then
  ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
  command -v redis-server >/dev/null || missing+=(redis-server)
  # The hosts-in-namespaces test (tests/e2e/test_hosts.py) needs `ip`; it skips without it.
  command -v ip >/dev/null || missing+=(iproute2)
  # The web page's browser tests (tests/e2e/test_web_browser.py) drive Debian's Chromium.
  [ -x /usr/bin/chromium ] || missing+=(chromium)
fi
python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      python_bin="$candidate"; break
    fi
  done
fi
[ -n "$python_bin" ] || missing+=(python3 python3-venv)
if [ -n "$python_bin" ] && ! "$python_bin" -c 'import venv, ensurepip' 2>/dev/null; then
  missing+=(python3-venv)
fi

if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "setup: please install: ${missing[*]} (this script knows apt-get only)" >&2
    exit 1
  fi
  say "installing system packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  if [ -z "$python_bin" ]; then python_bin=python3; fi
fi

# --- services (tests and the distributed mode) -------------------------------------------
if [ "$services" = 1 ]; then
  pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
  if ! pg_up; then
    cluster_version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)"
    if [ -z "$cluster_version" ]; then
      version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
      say "creating PostgreSQL $version cluster"
      as_root pg_createcluster "$version" main >/dev/null
      cluster_version="$version"
    fi
    say "starting PostgreSQL $cluster_version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$cluster_version" main start
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  fi
  # The tests log in as postgres/postgres over TCP: with trust auth the password is ignored,
  # with password auth (Debian's default) it must be set once.
  if ! PGPASSWORD=postgres PGCONNECT_TIMEOUT=5 psql -h 127.0.0.1 -U postgres -d postgres \
       -tAc 'select 1' >/dev/null 2>&1; then
    say "setting the postgres user's password for local TCP logins"
    as_root runuser -u postgres -- psql -q -c "ALTER USER postgres PASSWORD 'postgres'" >/dev/null
  fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    say "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      >/dev/null
    for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
  fi
fi

# --- virtual environment -------------------------------------------------------------------
venv="$here/.venv"
stamp_value="$(cat "$here/pyproject.toml" "$here/scripts/setup.sh" | sha256sum | cut -d' ' -f1)"
if [ -f "$venv/.videofactory-stamp" ] && [ "$(cat "$venv/.videofactory-stamp")" = "$stamp_value" ] \
   && [ -x "$venv/bin/videofactory" ]; then
  exit 0
fi
if [ ! -x "$venv/bin/python" ]; then
  say "creating $venv"
  "$python_bin" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
# torch first: the CPU build (on local disk where available); openai-whisper would otherwise
# pull a multi-gigabyte CUDA build.
if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  say "installing ${TORCH_SPEC:-torch==2.13.0}"
  "${pip[@]}" install "${TORCH_SPEC:-torch==2.13.0}"
fi
say "installing videofactory and its dependencies"
"${pip[@]}" install -e "$here[test]"
echo "$stamp_value" > "$venv/.videofactory-stamp"
say "ready"
