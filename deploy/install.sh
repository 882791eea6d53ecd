#!/usr/bin/env bash
# edge-lrcn device installer for Raspberry Pi OS (Bookworm) and Jetson (JetPack 6). Idempotent.
#
#   sudo deploy/install.sh                    install this checkout (a wheel built from it), enable and start the service
#   sudo deploy/install.sh --from WHEEL|DIR|SPEC   a wheel file, another checkout, or a requirement from the index
#   sudo deploy/install.sh --camera NAME --source SPEC   add a camera: /etc/edge-lrcn/NAME.toml, edge-lrcn@NAME.service
#   sudo deploy/install.sh --http [HOST:PORT]   the page (docs/http.md) on 0.0.0.0:8080, a password generated
#   sudo deploy/install.sh --gpu-delegate /usr/lib/libtensorflowlite_gpu_delegate.so
#   deploy/install.sh --root /tmp/stage       lay everything down under a staging root (no service started)
#   deploy/install.sh --dry-run               check everything, then print what would be done
#   sudo deploy/install.sh --uninstall [--camera NAME]   remove what was added (one camera); /etc/edge-lrcn is kept
#
# Every check that can fail (Python, disk space, the package source) runs before anything is created; a failure
# after that undoes what this run created (user, venv, sysusers file, units, config). See docs/deploy.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CHECKOUT="$(cd "$HERE/.." && pwd)"
ROOT=""
FROM=""
DRY=0
UNINSTALL=0
START=1
GPU_DELEGATE=""
HTTP=""
CAMERA=""
CAM_SOURCE=""
PYTHON="${PYTHON:-python3}"
SITE=auto
PIP_ARGS=()
INDEX_URL="${PIP_INDEX_URL:-}"
# a fresh runtime venv is ~320 MB (docs/deploy.md); pip needs room for its downloads on top
NEED_MB_NEW="${EDGE_LRCN_INSTALL_MIN_FREE_MB:-700}"
NEED_MB_UPGRADE="${EDGE_LRCN_INSTALL_MIN_FREE_MB:-300}"

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
die() { echo "install.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
    --from) FROM="${2:?--from needs a wheel, a checkout or a requirement}"; shift 2 ;;
    --camera) CAMERA="${2:?--camera needs a name}"; shift 2 ;;
    --source) CAM_SOURCE="${2:?--source needs a source (/dev/video0, picamera2:1, rtsp://..., gst:...)}"; shift 2 ;;
    --http) HTTP="0.0.0.0:8080"; if [[ "${2:-}" =~ ^[^-].*:[0-9]+$ ]]; then HTTP="$2"; shift; fi; shift ;;
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
PREFIX="$ROOT/opt/edge-lrcn"
VENV="$PREFIX/venv"
ETC="$ROOT/etc/edge-lrcn"
UNIT_DIR="$ROOT/etc/systemd/system"
WANTS="$UNIT_DIR/multi-user.target.wants"
SYSUSERS="$ROOT/usr/lib/sysusers.d/edge-lrcn.conf"
STATE="$ROOT/var/lib/edge-lrcn"
USER_NAME=edge-lrcn
MARKER="$VENV/.edge-lrcn-installed"  # what was installed: sha256 of the wheel's RECORD (file hashes, not zip dates)
changed=0

say() { echo "edge-lrcn install: $*"; }

if [ -n "$CAMERA" ]; then
  [[ "$CAMERA" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$ ]] \
    || die "--camera $CAMERA: use 1-32 letters, digits, '-' or '_' (it names /etc/edge-lrcn/NAME.toml and edge-lrcn@NAME)"
  [ "$CAMERA" = config ] && die "--camera config: the name is taken by /etc/edge-lrcn/config.toml (the single-camera unit)"
  if [ "$UNINSTALL" = 0 ] && [ -z "$CAM_SOURCE" ] && [ ! -f "$ETC/$CAMERA.toml" ]; then
    die "--camera $CAMERA needs --source SPEC (/dev/video0, picamera2:1, rtsp://..., gst:...)"
  fi
elif [ -n "$CAM_SOURCE" ]; then
  die "--source goes with --camera NAME (the single-camera config is /etc/edge-lrcn/config.toml)"
fi

# ---------------------------------------------------------------------------------------------------------------
# undo log: what this run created, removed in reverse order if the run fails
undo=()
tmp="$(mktemp -d)"
finish() {
  local rc=$?
  if [ "$rc" != 0 ] && [ "$DRY" = 0 ] && [ ${#undo[@]} -gt 0 ]; then
    echo "edge-lrcn install: failed (exit $rc); undoing what this run created" >&2
    local i
    for ((i = ${#undo[@]} - 1; i >= 0; i--)); do
      echo "  undo: ${undo[i]}" >&2
      eval "${undo[i]}" >/dev/null 2>&1 || true
    done
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap finish EXIT

act() {  # run a command, or print it with --dry-run
  if [ "$DRY" = 1 ]; then echo "would run: $*"; else "$@"; fi
  changed=1
}
q() { printf '%q' "$1"; }
newdir() {  # newdir DIR MODE: create DIR (and parents); register the topmost created one for undo
  local d="$1" top="" p="$1"
  while [ ! -e "$p" ]; do top="$p"; p="$(dirname "$p")"; done
  [ -z "$top" ] && return 0
  act install -d -m "$2" "$d"
  undo+=("rm -rf $(q "$top")")
}
put() {  # put SRC DEST MODE: copy only when the content differs (idempotent); a new file is undone on failure
  local src="$1" dest="$2" mode="$3"
  if [ -f "$dest" ] && cmp -s "$src" "$dest"; then return 0; fi
  if [ -e "$dest" ]; then
    local saved="$tmp/undo.${#undo[@]}"
    cp -p "$dest" "$saved"
    undo+=("cp -p $(q "$saved") $(q "$dest")")
  else
    newdir "$(dirname "$dest")" 0755
    undo+=("rm -f $(q "$dest")")
  fi
  act install -D -m "$mode" "$src" "$dest"
  say "wrote $dest"
}
link() {  # link TARGET LINK: a symlink, undone on failure if new
  local target="$1" l="$2"
  [ -L "$l" ] && [ "$(readlink "$l")" = "$target" ] && return 0
  newdir "$(dirname "$l")" 0755
  [ -L "$l" ] || undo+=("rm -f $(q "$l")")
  act ln -sfn "$target" "$l"
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

# ---------------------------------------------------------------------------------------------------------------
uninstall() {
  local units=() u
  if [ -n "$CAMERA" ]; then
    units=("edge-lrcn@$CAMERA.service")
    say "removing camera $CAMERA (keeping $ETC/$CAMERA.toml)"
  else
    units=(edge-lrcn.service)
    for u in "$WANTS"/edge-lrcn@*.service; do [ -L "$u" ] && units+=("$(basename "$u")"); done
    say "uninstalling (keeping $ETC)"
  fi
  for u in "${units[@]}"; do
    if [ -z "$ROOT" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
      act systemctl disable --now "$u" >/dev/null 2>&1 || true
    fi
    [ -L "$WANTS/$u" ] && act rm -f "$WANTS/$u"
  done
  if [ -n "$CAMERA" ]; then
    [ -d "$STATE/$CAMERA" ] && act rm -rf "$STATE/$CAMERA"
    [ -z "$ROOT" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ] && act systemctl daemon-reload || true
    say "done; $ETC/$CAMERA.toml was kept"
    exit 0
  fi
  [ -e "$UNIT_DIR/edge-lrcn.service" ] && act rm -f "$UNIT_DIR/edge-lrcn.service"
  [ -e "$UNIT_DIR/edge-lrcn@.service" ] && act rm -f "$UNIT_DIR/edge-lrcn@.service"
  [ -d "$PREFIX" ] && act rm -rf "$PREFIX"
  [ -e "$SYSUSERS" ] && act rm -f "$SYSUSERS"
  [ -d "$STATE" ] && act rm -rf "$STATE"
  if [ -z "$ROOT" ]; then
    id "$USER_NAME" >/dev/null 2>&1 && act userdel "$USER_NAME" || true
    command -v systemctl >/dev/null && [ -d /run/systemd/system ] && act systemctl daemon-reload || true
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

# ---------------------------------------------------------------------------------------------------------------
# 0. checks: nothing is created before all of them pass (only files in a private temporary folder)
if [ -z "$ROOT" ] && [ "$DRY" = 0 ] && [ "$(id -u)" != 0 ]; then
  die "run as root (sudo), or use --root DIR to stage, or --dry-run"
fi
command -v "$PYTHON" >/dev/null || die "$PYTHON not found: install Python >= 3.10 (apt install python3)"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || die "Python >= 3.10 is needed ($PYTHON is $("$PYTHON" -V 2>&1)); JetPack 6 and Bookworm ship 3.10/3.11"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
  || die "$PYTHON cannot make a virtualenv: install python3-venv (apt install python3-venv)"

offline=0
for a in ${PIP_ARGS[@]+"${PIP_ARGS[@]}"}; do
  case "$a" in --no-index|--find-links*|-f*) offline=1 ;; --index-url=*|-i=*) INDEX_URL="${a#*=}" ;; esac
done
[ -n "${PIP_NO_INDEX:-}" ] && offline=1
[ -n "$INDEX_URL" ] || INDEX_URL="$("$PYTHON" -m pip config get global.index-url 2>/dev/null || true)"
[ -n "$INDEX_URL" ] || INDEX_URL=https://pypi.org/simple
INDEX_URL="${INDEX_URL%/}"

index_has() {  # index_has NAME: 0 found, 1 not on the index, 2 index unreachable (message on stdout)
  "$PYTHON" - "$INDEX_URL" "${1:-}" <<'PY'
import re, sys, urllib.error, urllib.request
index, name = sys.argv[1], sys.argv[2]
url = index + "/" + (re.sub(r"[-_.]+", "-", name).lower() + "/" if name else "")
try:
    urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": "text/html"}), timeout=15).close()
except urllib.error.HTTPError as exc:
    if exc.code == 404 and name:
        print(f"{name} is not on {index}")
        sys.exit(1)
    print(f"{url}: HTTP {exc.code}")
    sys.exit(2)
except Exception as exc:  # DNS, refused, timeout, TLS
    print(f"{url}: {getattr(exc, 'reason', exc)}")
    sys.exit(2)
PY
}
need_index() {  # the dependencies (numpy, OpenCV, LiteRT, paho-mqtt) and the build tools come from the index
  [ "$offline" = 1 ] && return 0
  local msg links
  msg="$(index_has "")" && return 0
  links="${PIP_FIND_LINKS:-$("$PYTHON" -m pip config get global.find-links 2>/dev/null || true)}"
  [ -n "$links" ] || die "the package index is not reachable ($msg): connect the device, set PIP_INDEX_URL, or pass --pip-arg --find-links=DIR with the wheels"
  say "note: the package index is not reachable ($msg); relying on pip's find-links $links"
}

# which source: a checkout (default: the one this script is in), a wheel, or a requirement for the index
if [ -z "$FROM" ]; then
  if [ -f "$CHECKOUT/pyproject.toml" ] && grep -q '^name = "edge-lrcn"' "$CHECKOUT/pyproject.toml"; then
    FROM="$CHECKOUT"
  else
    FROM="edge-lrcn"
  fi
fi
KIND=spec
WHEEL=""
if [ -d "$FROM" ]; then
  [ -f "$FROM/pyproject.toml" ] || die "--from $FROM: a directory must be an edge-lrcn checkout (no pyproject.toml there)"
  KIND=checkout
elif [[ "$FROM" == *.whl ]]; then
  [ -f "$FROM" ] || die "--from $FROM: no such wheel"
  KIND=wheel
elif [[ "$FROM" == */* || "$FROM" == .* ]] && [[ "$FROM" != *://* ]]; then
  die "--from $FROM: no such file or directory"
fi

# disk: the venv's filesystem (and the temporary folder, where a wheel is built)
existing="$PREFIX"; while [ ! -d "$existing" ]; do existing="$(dirname "$existing")"; done
need=$NEED_MB_NEW; [ -x "$VENV/bin/python" ] && need=$NEED_MB_UPGRADE
free_mb=$(( $(df -Pk "$existing" | awk 'NR==2 {print $4}') / 1024 ))
[ "$free_mb" -ge "$need" ] || die "not enough disk space: $free_mb MB free on $existing, $need MB needed"
tmp_mb=$(( $(df -Pk "$tmp" | awk 'NR==2 {print $4}') / 1024 ))
[ "$tmp_mb" -ge 50 ] || die "not enough space in ${TMPDIR:-/tmp}: $tmp_mb MB free, 50 MB needed"

case "$KIND" in
  checkout)
    need_index
    # build in a copy: setuptools writes build/ and *.egg-info next to the sources
    mkdir -p "$tmp/src"
    (cd "$FROM" && cp -r --parents pyproject.toml README.md edge_lrcn convert "$tmp/src/") \
      || die "--from $FROM: not a complete checkout (pyproject.toml, README.md, edge_lrcn/, convert/)"
    for f in LICENSE LICENSE.txt setup.cfg MANIFEST.in; do [ -e "$FROM/$f" ] && cp "$FROM/$f" "$tmp/src/"; done
    find "$tmp/src" -name __pycache__ -prune -exec rm -rf {} +
    say "building a wheel from $FROM"
    "$PYTHON" -m venv "$tmp/build-venv" >/dev/null \
      && "$tmp/build-venv/bin/python" -m pip wheel --quiet --no-deps --wheel-dir "$tmp/dist" \
           ${PIP_ARGS[@]+"${PIP_ARGS[@]}"} "$tmp/src" > "$tmp/build.log" 2>&1 \
      || { tail -20 "$tmp/build.log" >&2; die "could not build a wheel from $FROM (the log above)"; }
    WHEEL="$(ls "$tmp"/dist/edge_lrcn-*.whl)"
    ;;
  wheel)
    "$PYTHON" -m zipfile -t "$FROM" >/dev/null 2>&1 || die "--from $FROM: not a readable wheel (zip) file"
    [[ "$(basename "$FROM")" == edge_lrcn-* ]] || die "--from $FROM: not an edge-lrcn wheel"
    need_index
    WHEEL="$(realpath "$FROM")"
    ;;
  spec)
    if [ "$offline" = 0 ]; then
      if [[ "$FROM" == *://* ]]; then
        msg="$(INDEX_URL="" "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=15).close()' "$FROM" 2>&1)" \
          || die "--from $FROM: not reachable (${msg##*$'\n'})"
      else
        name="$(echo "$FROM" | sed -E 's/^([A-Za-z0-9._-]+).*/\1/')"
        set +e; msg="$(index_has "$name")"; rc=$?; set -e
        [ "$rc" = 1 ] && die "$msg (yet): run deploy/install.sh from a checkout (git clone ...), or --from a wheel built on a host (python3 -m pip wheel --no-deps -w dist .)"
        [ "$rc" = 0 ] || die "the package index is not reachable ($msg): connect the device, set PIP_INDEX_URL, or use --from a wheel with --pip-arg --find-links=DIR"
      fi
    fi
    ;;
esac
want=""
if [ -n "$WHEEL" ]; then
  want="$("$PYTHON" - "$WHEEL" <<'PY'
import hashlib, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    rec = [n for n in z.namelist() if n.endswith(".dist-info/RECORD")]
    print(hashlib.sha256(z.read(rec[0])).hexdigest() if rec else "")
PY
)"
fi

# a device that runs only template instances (edge-lrcn@NAME): a run without --camera upgrades them and does not
# add the single-camera unit
enabled=()
for u in "$WANTS"/edge-lrcn@*.service; do [ -L "$u" ] && enabled+=("$(basename "$u")"); done
CAMERAS_ONLY=0
if [ -z "$CAMERA" ] && [ ${#enabled[@]} -gt 0 ] && [ ! -L "$WANTS/edge-lrcn.service" ]; then CAMERAS_ONLY=1; fi
[ -L "$WANTS/edge-lrcn.service" ] && enabled+=(edge-lrcn.service)
pkg_changed=0

say "platform: $PLATFORM, python: $("$PYTHON" -V 2>&1), system site-packages: $SITE, source: $FROM${WHEEL:+ ($(basename "$WHEEL"))}${ROOT:+, staging root $ROOT}"

# ---------------------------------------------------------------------------------------------------------------
# 1. virtualenv and the package (first: the step most likely to fail, e.g. no wheel of a dependency for this Python)
if [ ! -x "$VENV/bin/python" ]; then
  venv_args=()
  [ "$SITE" = yes ] && venv_args+=(--system-site-packages)
  newdir "$PREFIX" 0755
  [ "$DRY" = 1 ] || undo+=("rm -rf $(q "$VENV")")
  act "$PYTHON" -m venv ${venv_args[@]+"${venv_args[@]}"} "$VENV"
  act "$VENV/bin/python" -m pip install --quiet --upgrade pip ${PIP_ARGS[@]+"${PIP_ARGS[@]}"}
fi
if [ -n "$want" ] && [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$want" ] && [ -x "$VENV/bin/edge-lrcn" ]; then
  say "$(basename "$WHEEL") already installed in $VENV"
else
  target="${WHEEL:-$FROM}"
  act "$VENV/bin/python" -m pip install --quiet ${PIP_ARGS[@]+"${PIP_ARGS[@]}"} "$target"
  if [ -n "$WHEEL" ]; then
    # same version number, other content (a newer checkout): pip would call it satisfied
    act "$VENV/bin/python" -m pip install --quiet --force-reinstall --no-deps ${PIP_ARGS[@]+"${PIP_ARGS[@]}"} "$WHEEL"
    if [ "$DRY" = 0 ]; then echo "$want" > "$MARKER"; fi
  fi
  pkg_changed=1
  say "installed edge-lrcn from $FROM into $VENV"
fi
# Jetson: JetPack's OpenCV (apt; GStreamer, the hardware decoders) is what gst: sources need, and pip's
# opencv-python-headless in the venv would come first on sys.path and hide it. Not tried on a Jetson yet.
if [ "$PLATFORM" = jetson ] && [ "$SITE" = yes ] && [ "$DRY" = 0 ] && [ -d "$VENV/lib" ] \
   && "$PYTHON" -c 'import cv2, re, sys; sys.exit(0 if re.search(r"GStreamer:\s+YES", cv2.getBuildInformation()) else 1)' 2>/dev/null \
   && "$VENV/bin/python" -m pip show -q opencv-python-headless >/dev/null 2>&1; then
  act "$VENV/bin/python" -m pip uninstall --quiet --yes opencv-python-headless
  "$VENV/bin/python" -c 'import cv2' || die "the system OpenCV does not import in $VENV"
  say "using JetPack's OpenCV $("$VENV/bin/python" -c 'import cv2; print(cv2.__version__)') (GStreamer) instead of pip's"
fi

# 2. user and groups (systemd-sysusers; useradd where it is missing)
cat > "$tmp/sysusers.conf" <<SYSU
u $USER_NAME - "edge-lrcn daemon" /var/lib/edge-lrcn
m $USER_NAME video
m $USER_NAME render
SYSU
put "$tmp/sysusers.conf" "$SYSUSERS" 0644
if ! grep -qs "^$USER_NAME:" "$ROOT/etc/passwd"; then
  newdir "$ROOT/etc" 0755
  if [ -z "$ROOT" ]; then
    undo+=("userdel $USER_NAME")
  else
    # a staging root without an account database: the files systemd-sysusers creates go too
    for f in passwd group shadow gshadow .pwd.lock; do
      [ -e "$ROOT/etc/$f" ] || undo+=("rm -f $(q "$ROOT/etc/$f")")
    done
    undo+=("for f in passwd group shadow gshadow; do [ -f $(q "$ROOT")/etc/\$f ] && sed -i -E '/^$USER_NAME:/d; s/([:,])$USER_NAME(,|\$)/\\1\\2/; s/,\$//' $(q "$ROOT")/etc/\$f; done")
  fi
  if command -v systemd-sysusers >/dev/null; then
    act systemd-sysusers ${ROOT:+--root="$ROOT"} "$SYSUSERS"
  else
    act useradd --system --home-dir /var/lib/edge-lrcn --shell /usr/sbin/nologin ${ROOT:+--root "$ROOT"} "$USER_NAME"
    act usermod -a -G video,render ${ROOT:+--root "$ROOT"} "$USER_NAME" || true
  fi
  say "created user $USER_NAME (groups video, render)"
fi

# 3. config (never overwritten), the password file the units' LoadCredential= expects, state dir
newdir "$ETC" 0755
if [ -n "$CAMERA" ]; then
  CFG="$ETC/$CAMERA.toml"
else
  CFG="$ETC/config.toml"
fi
if [ "$CAMERAS_ONLY" = 1 ]; then
  say "cameras on this device: ${enabled[*]}; edge-lrcn.service (config.toml) is not added"
elif [ ! -f "$CFG" ]; then
  "$PYTHON" - "$HERE/config.example.toml" "$tmp/config.toml" "$CAMERA" "$CAM_SOURCE" "$GPU_DELEGATE" "$HTTP" \
    "${ETC#"$ROOT"}/http-password" <<'PY'
import json, re, sys
src, out, camera, source, gpu, http, pw = sys.argv[1:8]
text = open(src).read()
if camera:
    text = text.replace("(/etc/edge-lrcn/config.toml)", f"(/etc/edge-lrcn/{camera}.toml, camera {camera!r}: "
                        f"edge-lrcn@{camera}.service)", 1)
    text = text.replace("sudo systemctl reload edge-lrcn ", f"sudo systemctl reload edge-lrcn@{camera} ", 1)
    text = re.sub(r"^source = .*$", lambda m: "source = " + json.dumps(source, ensure_ascii=False), text, count=1,
                  flags=re.M)
    text = re.sub(r"^# device_id = .*$",
                  f"# device_id = \"kitchen\"   # default: <hostname>-<machine tag>-{camera} (edge-lrcn@{camera} sets "
                  f"EDGE_LRCN_INSTANCE={camera})",
                  text, count=1, flags=re.M)
if gpu:
    text = re.sub(r"^# *delegate = .*$", 'delegate = "gpu"', text, count=1, flags=re.M)
    text = re.sub(r"^# *gpu_delegate_library = .*$", lambda m: "gpu_delegate_library = " + json.dumps(gpu), text,
                  count=1, flags=re.M)
if http:  # the page, its password, the dataset it labels into, and the clips it shows
    text = re.sub(r"^# http = .*$", lambda m: "http = " + json.dumps(http), text, count=1, flags=re.M)
    text = re.sub(r"^# http_password_file = .*$", lambda m: "http_password_file = " + json.dumps(pw), text,
                  count=1, flags=re.M)
    text = re.sub(r"^# dataset_dir = ", "dataset_dir = ", text, count=1, flags=re.M)
    text = re.sub(r"^# clips_dir = ", "clips_dir = ", text, count=1, flags=re.M)
open(out, "w").write(text)
PY
  put "$tmp/config.toml" "$CFG" 0644
elif [ -n "$CAMERA" ] && [ -n "$CAM_SOURCE" ] && ! grep -qF "source = $(printf '%s' "$CAM_SOURCE" | "$PYTHON" -c 'import json,sys; print(json.dumps(sys.stdin.read(), ensure_ascii=False))')" "$CFG"; then
  say "note: $CFG exists and was kept; its source is not --source $CAM_SOURCE: edit it there"
elif [ -n "$HTTP" ] && ! grep -q "^http = " "$CFG"; then
  say "note: $CFG exists and was kept; set http = \"$HTTP\" and http_password_file in its [http] section"
elif [ -n "$GPU_DELEGATE" ] && ! grep -q "^gpu_delegate_library = \"$GPU_DELEGATE\"" "$CFG"; then
  say "note: $CFG exists and was kept; set gpu_delegate_library = \"$GPU_DELEGATE\" and delegate = \"gpu\" there"
fi
if [ -n "$HTTP" ] && [ ! -e "$ETC/http-password" ]; then  # readable by the service's group only
  undo+=("rm -f $(q "$ETC/http-password")")
  act install -D -m 0640 /dev/null "$ETC/http-password"
  if getent group "$USER_NAME" >/dev/null; then act chgrp "$USER_NAME" "$ETC/http-password"; fi
  [ "$DRY" = 1 ] || "$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(12))' > "$ETC/http-password"
  say "the page's password is in $ETC/http-password (change it there; restart the service)"
fi
if [ ! -e "$ETC/mqtt-password" ]; then
  undo+=("rm -f $(q "$ETC/mqtt-password")")
  act install -D -m 0600 /dev/null "$ETC/mqtt-password"
fi
# 0755: the template units' state directories (/var/lib/edge-lrcn/NAME) are reached through it
newdir "$STATE" 0755

# 4. the units (their Documentation= points here), the single-camera one (config.toml) or, with --camera, an
#    instance of the template
put "$CHECKOUT/docs/deploy.md" "$PREFIX/doc/deploy.md" 0644
put "$CHECKOUT/README.md" "$PREFIX/doc/README.md" 0644
put "$CHECKOUT/systemd/edge-lrcn@.service" "$UNIT_DIR/edge-lrcn@.service" 0644
if [ -n "$CAMERA" ]; then
  UNIT="edge-lrcn@$CAMERA.service"
  link /etc/systemd/system/edge-lrcn@.service "$WANTS/$UNIT"
  [ -L "$WANTS/edge-lrcn.service" ] && say "note: edge-lrcn.service (config.toml) is enabled too; if it uses the same camera: systemctl disable --now edge-lrcn"
elif [ "$CAMERAS_ONLY" = 0 ]; then
  UNIT=edge-lrcn.service
  put "$CHECKOUT/systemd/edge-lrcn.service" "$UNIT_DIR/edge-lrcn.service" 0644
  link /etc/systemd/system/edge-lrcn.service "$WANTS/$UNIT"
fi
# what to (re)start: this unit; every enabled one when the package changed (they share the venv)
restart=()
[ "$CAMERAS_ONLY" = 0 ] && restart+=("$UNIT")
if [ "$pkg_changed" = 1 ] || [ "$CAMERAS_ONLY" = 1 ]; then
  for u in ${enabled[@]+"${enabled[@]}"}; do [[ " ${restart[*]} " == *" $u "* ]] || restart+=("$u"); done
fi

if [ "$DRY" = 0 ]; then
  for u in ${restart[@]+"${restart[@]}"}; do
    if [ "$u" = edge-lrcn.service ]; then c="$ETC/config.toml"; else c="${u#edge-lrcn@}"; c="$ETC/${c%.service}.toml"; fi
    "$VENV/bin/edge-lrcn" check-config "$c" >/dev/null || die "$c does not pass edge-lrcn check-config (above)"
  done
fi
undo=()  # installed: a service that does not start (e.g. no camera yet) is reported, not undone
if [ "$START" = 1 ] && [ "$DRY" = 0 ]; then
  systemctl daemon-reload
  for u in ${restart[@]+"${restart[@]}"}; do
    systemctl restart "$u" \
      || { echo "install.sh: installed, but $u did not start: journalctl -u ${u%.service} -b" >&2; exit 1; }
    say "$u started: journalctl -u ${u%.service} -f"
  done
fi
[ "$changed" = 0 ] && say "nothing to do: already installed"
say "done"
