#!/usr/bin/env bash
# edge-lrcn device installer for Raspberry Pi OS (Bookworm) and Jetson (JetPack 6). Idempotent.
#
#   sudo deploy/install.sh                      install from the package index, enable and start the service
#   sudo deploy/install.sh --from ./dist/edge_lrcn-0.1.0-py3-none-any.whl     (or --from /path/to/checkout)
#   sudo deploy/install.sh --gpu-delegate /usr/lib/libtensorflowlite_gpu_delegate.so
#   deploy/install.sh --root /tmp/stage         lay everything down under a staging root (no service started)
#   deploy/install.sh --dry-run                 print what would be done
#   sudo deploy/install.sh --uninstall          remove what was added; /etc/edge-lrcn (config) is kept
set -euo pipefail

ROOT=""
FROM="edge-lrcn"
DRY=0
UNINSTALL=0
START=1
GPU_DELEGATE=""
PYTHON="${PYTHON:-python3}"
SITE=auto
PIP_ARGS=()

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
die() { echo "install.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
    --from) FROM="${2:?--from needs a wheel, a path or a requirement}"; shift 2 ;;
    --gpu-delegate) GPU_DELEGATE="${2:?--gpu-delegate needs a library path}"; shift 2 ;;
    --python) PYTHON="${2:?}"; shift 2 ;;
    --system-site-packages) SITE=yes; shift ;;
    --no-system-site-packages) SITE=no; shift ;;
    --pip-arg) PIP_ARGS+=("${2:?}"); shift 2 ;;
    --no-start) START=0; shift ;;
    --dry-run) DRY=1; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "install.sh: unknown option $1" >&2; usage 2 ;;
  esac
done

[ -n "$ROOT" ] && { ROOT="$(realpath -m "$ROOT")"; START=0; }
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PREFIX="$ROOT/opt/edge-lrcn"
VENV="$PREFIX/venv"
ETC="$ROOT/etc/edge-lrcn"
UNIT_DIR="$ROOT/etc/systemd/system"
SYSUSERS="$ROOT/usr/lib/sysusers.d/edge-lrcn.conf"
STATE="$ROOT/var/lib/edge-lrcn"
USER_NAME=edge-lrcn
changed=0

say() { echo "edge-lrcn install: $*"; }
act() {  # run a command, or print it with --dry-run
  if [ "$DRY" = 1 ]; then echo "would run: $*"; else "$@"; fi
  changed=1
}
put() {  # put SRC DEST MODE: copy only when the content differs (idempotent)
  local src="$1" dest="$2" mode="$3"
  if [ -f "$dest" ] && cmp -s "$src" "$dest"; then return 0; fi
  act install -D -m "$mode" "$src" "$dest"
  say "wrote $dest"
}

detect_platform() {
  local model=""
  [ -r /proc/device-tree/model ] && model="$(tr -d '\0' < /proc/device-tree/model)"
  if [ -f /etc/nv_tegra_release ] || [[ "$model" == *NVIDIA* ]] || [[ "$model" == *Jetson* ]]; then
    echo jetson
  elif [[ "$model" == *"Raspberry Pi"* ]] || grep -qs "Raspberry Pi" /etc/os-release; then
    echo raspberrypi
  else
    echo generic
  fi
}

PLATFORM="$(detect_platform)"
if [ "$SITE" = auto ]; then
  # picamera2 (apt python3-picamera2) and JetPack's GStreamer-enabled OpenCV live in the system site-packages
  case "$PLATFORM" in raspberrypi|jetson) SITE=yes ;; *) SITE=no ;; esac
fi

uninstall() {
  say "uninstalling (keeping $ETC)"
  if [ -z "$ROOT" ] && command -v systemctl >/dev/null && systemctl list-unit-files edge-lrcn.service >/dev/null 2>&1; then
    act systemctl disable --now edge-lrcn.service || true
  fi
  [ -e "$UNIT_DIR/edge-lrcn.service" ] && act rm -f "$UNIT_DIR/edge-lrcn.service"
  [ -L "$UNIT_DIR/multi-user.target.wants/edge-lrcn.service" ] && act rm -f "$UNIT_DIR/multi-user.target.wants/edge-lrcn.service"
  [ -d "$PREFIX" ] && act rm -rf "$PREFIX"
  [ -e "$SYSUSERS" ] && act rm -f "$SYSUSERS"
  [ -d "$STATE" ] && act rm -rf "$STATE"
  if [ -z "$ROOT" ]; then
    id "$USER_NAME" >/dev/null 2>&1 && act userdel "$USER_NAME" || true
    command -v systemctl >/dev/null && act systemctl daemon-reload || true
  else
    for f in passwd group shadow gshadow; do
      if [ -f "$ROOT/etc/$f" ] && grep -q "^$USER_NAME:" "$ROOT/etc/$f"; then
        act sed -i "/^$USER_NAME:/d" "$ROOT/etc/$f"
      fi
    done
    # memberships we added to video/render in a staging root
    for f in group gshadow; do
      [ -f "$ROOT/etc/$f" ] && act sed -i -E "s/([:,])$USER_NAME(,|$)/\1\2/; s/,$//" "$ROOT/etc/$f"
    done
  fi
  say "done; the config in $ETC was kept"
  exit 0
}
[ "$UNINSTALL" = 1 ] && uninstall

if [ -z "$ROOT" ] && [ "$DRY" = 0 ] && [ "$(id -u)" != 0 ]; then
  die "run as root (sudo), or use --root DIR to stage, or --dry-run"
fi
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || die "Python >= 3.10 is needed ($PYTHON is older); JetPack 6 and Bookworm ship 3.10/3.11"
say "platform: $PLATFORM, python: $("$PYTHON" -V 2>&1), system site-packages: $SITE${ROOT:+, staging root $ROOT}"

# 1. user and groups (systemd-sysusers; useradd where it is missing)
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/sysusers.conf" <<SYSU
u $USER_NAME - "edge-lrcn daemon" /var/lib/edge-lrcn
m $USER_NAME video
m $USER_NAME render
SYSU
put "$tmp/sysusers.conf" "$SYSUSERS" 0644
if ! grep -qs "^$USER_NAME:" "$ROOT/etc/passwd"; then
  [ -d "$ROOT/etc" ] || act install -d -m 0755 "$ROOT/etc"
  if command -v systemd-sysusers >/dev/null; then
    act systemd-sysusers ${ROOT:+--root="$ROOT"} "$SYSUSERS"
  else
    act useradd --system --home-dir /var/lib/edge-lrcn --shell /usr/sbin/nologin ${ROOT:+--root "$ROOT"} "$USER_NAME"
    act usermod -a -G video,render ${ROOT:+--root "$ROOT"} "$USER_NAME" || true
  fi
  say "created user $USER_NAME (groups video, render)"
fi

# 2. virtualenv and the package
if [ ! -x "$VENV/bin/python" ]; then
  venv_args=()
  [ "$SITE" = yes ] && venv_args+=(--system-site-packages)
  act "$PYTHON" -m venv "${venv_args[@]}" "$VENV"
  act "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
want_version=""
if [ -d "$FROM" ] && [ -f "$FROM/pyproject.toml" ]; then
  want_version="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$FROM/pyproject.toml" | head -1)"
elif [[ "$FROM" == *.whl ]]; then
  want_version="$(basename "$FROM" | cut -d- -f2)"
fi
have_version="$("$VENV/bin/edge-lrcn" --version 2>/dev/null | awk '{print $2}' || true)"
if [ -n "$want_version" ] && [ "$have_version" = "$want_version" ]; then
  say "edge-lrcn $have_version already installed in $VENV"
else
  act "$VENV/bin/python" -m pip install --quiet ${PIP_ARGS[@]+"${PIP_ARGS[@]}"} "$FROM"
  say "installed edge-lrcn from $FROM into $VENV"
fi

# 3. config (never overwritten), the password file the unit's LoadCredential= expects, state dir
if [ ! -f "$ETC/config.toml" ]; then
  cp "$HERE/config.example.toml" "$tmp/config.toml"
  if [ -n "$GPU_DELEGATE" ]; then
    sed -i "s|^# *delegate = .*|delegate = \"gpu\"|; s|^# *gpu_delegate_library = .*|gpu_delegate_library = \"$GPU_DELEGATE\"|" "$tmp/config.toml"
  fi
  put "$tmp/config.toml" "$ETC/config.toml" 0644
elif [ -n "$GPU_DELEGATE" ] && ! grep -q "^gpu_delegate_library = \"$GPU_DELEGATE\"" "$ETC/config.toml"; then
  say "note: $ETC/config.toml exists and was kept; set gpu_delegate_library = \"$GPU_DELEGATE\" and delegate = \"gpu\" there"
fi
if [ ! -e "$ETC/mqtt-password" ]; then
  act install -D -m 0600 /dev/null "$ETC/mqtt-password"
fi
[ -d "$STATE" ] || act install -d -m 0750 "$STATE"

# 4. the unit
put "$HERE/../systemd/edge-lrcn.service" "$UNIT_DIR/edge-lrcn.service" 0644
if [ ! -L "$UNIT_DIR/multi-user.target.wants/edge-lrcn.service" ]; then
  act install -d "$UNIT_DIR/multi-user.target.wants"
  act ln -sf /etc/systemd/system/edge-lrcn.service "$UNIT_DIR/multi-user.target.wants/edge-lrcn.service"
fi

if [ "$START" = 1 ] && [ "$DRY" = 0 ]; then
  systemctl daemon-reload
  "$VENV/bin/edge-lrcn" check-config "$ETC/config.toml"
  systemctl enable --now edge-lrcn.service
  systemctl restart edge-lrcn.service
  say "service started: journalctl -u edge-lrcn -f"
fi
[ "$changed" = 0 ] && say "nothing to do: already installed"
say "done"
