#!/usr/bin/env bash
# Release check: the device runtime on emulated Raspberry Pis (docs/deploy.md "Emulated Pi check").
#
# Builds (once, then cached) an arm64 Debian bookworm root with debootstrap --foreign and QEMU user-mode emulation,
# installs the runtime's aarch64 wheels (the versions of the host's venv) and this checkout (--no-deps) into it, and
# runs `edge-lrcn run` over a synthetic segment video on an emulated Cortex-A72 (Raspberry Pi 4) and Cortex-A76
# (Raspberry Pi 5): --encoder int8 and fp16, and --delegate gpu, which must fall back to the CPU cleanly. Every run's
# events must equal the x86 run's: types, labels, reasons, times and durations exactly, confidences within
# ARM_CHECK_TOLERANCE. Exit 0 when all are equal, 1 on any difference or failed run, 2 when it cannot run here.
#
# Needs root (debootstrap, chroot, mounts) and qemu-user-static, binfmt-support, debootstrap (installed with apt-get
# when missing). Takes an hour or more on 2 cores; emulated speed means nothing (docs/deploy.md).
#
# Settings (environment): ARM_CHECK_ROOT (the cached root; default ~/.cache/edge-lrcn/arm-root), ARM_CHECK_MIRROR
# (default: the host's Debian mirror, else deb.debian.org), ARM_CHECK_CPUS ("cortex-a72 cortex-a76"),
# ARM_CHECK_RUNS ("int8 fp16 gpu"), ARM_CHECK_TOLERANCE (0.002), ARM_CHECK_OUT (where logs and events go),
# EDGE_LRCN_TEST_VENV (the host's venv with edge-lrcn, default .venv as scripts/test.sh makes it; made here
# with the runtime only when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${EDGE_LRCN_TEST_VENV:-.venv}"
ROOT="${ARM_CHECK_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/edge-lrcn/arm-root}"
CPUS="${ARM_CHECK_CPUS:-cortex-a72 cortex-a76}"
RUNS="${ARM_CHECK_RUNS:-int8 fp16 gpu}"
TOL="${ARM_CHECK_TOLERANCE:-0.002}"
OUT="${ARM_CHECK_OUT:-$(mktemp -d /tmp/arm-check.XXXXXX)}"
SEQUENCE="left:6,still:4,right:6,up:6,down:6"
RUNTIME_PKGS=(ai-edge-litert numpy opencv-python-headless paho-mqtt cryptography)
mkdir -p "$OUT"
say() { echo "arm-check: $*" >&2; }

[ "$(id -u)" = 0 ] || { say "needs root (debootstrap, chroot, mounts): sudo bash scripts/arm-check.sh"; exit 2; }
host_venv() {  # the x86 reference: the venv scripts/test.sh makes, or a runtime-only one made here
  [ -x "$VENV/bin/edge-lrcn" ] && return
  say "making $VENV with this checkout (runtime only; scripts/test.sh adds the convert and test extras)"
  "${PYTHON:-python3}" -m venv "$VENV" || { say "python3 -m venv failed: apt-get install python3-venv"; exit 2; }
  "$VENV/bin/python" -m pip install --quiet -e . || { say "pip install -e . failed in $VENV"; exit 1; }
}

install_tools() {
  local missing=()
  [ -x /usr/bin/qemu-aarch64-static ] || missing+=(qemu-user-static)
  command -v update-binfmts >/dev/null || missing+=(binfmt-support)
  command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
  command -v unshare >/dev/null || missing+=(util-linux)
  [ ${#missing[@]} -eq 0 ] && return
  if ! command -v apt-get >/dev/null; then
    say "not installed: ${missing[*]} (Debian/Ubuntu package names); install them and run again"; exit 2
  fi
  say "installing ${missing[*]} (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

enable_binfmt() {
  [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null || {
    say "aarch64 binaries do not run here: binfmt_misc has no enabled qemu-aarch64 entry (update-binfmts --display)"
    exit 2; }
}

mirror() {
  local m="${ARM_CHECK_MIRROR:-}"
  [ -n "$m" ] || m="$(grep -rhoE '^(deb|URIs:) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list \
                      /etc/apt/sources.list.d/ 2>/dev/null | grep -oE 'https?://[^ ]+' | head -n1 || true)"
  echo "${m:-http://deb.debian.org/debian}"
}

build_root() {  # debootstrap's two stages, into ROOT.new, renamed to ROOT once complete
  [ -x "$ROOT/usr/bin/python3" ] && [ -e "$ROOT/.arm-check-base" ] && return
  local new="$ROOT.new" m
  m="$(mirror)"
  say "building the arm64 bookworm root in $ROOT from $m (about 5-10 minutes, once)"
  rm -rf "$new"
  mkdir -p "$(dirname "$ROOT")"
  debootstrap --arch=arm64 --foreign --variant=minbase --include=python3-venv,ca-certificates bookworm "$new" "$m" \
    > "$OUT/debootstrap.log" 2>&1 || { tail -n 20 "$OUT/debootstrap.log"; exit 1; }
  cp /usr/bin/qemu-aarch64-static "$new/usr/bin/"  # for a binfmt entry without the F flag
  unshare --mount --propagation private chroot "$new" /debootstrap/debootstrap --second-stage \
    >> "$OUT/debootstrap.log" 2>&1 || { tail -n 20 "$OUT/debootstrap.log"; exit 1; }
  touch "$new/.arm-check-base"
  rm -rf "$ROOT"
  mv "$new" "$ROOT"
}

pins() {  # the runtime's packages at the versions the host's venv runs (the x86 reference)
  "$VENV/bin/python" - "${RUNTIME_PKGS[@]}" <<'EOF'
import sys
from importlib import metadata
for name in sys.argv[1:]:
    try:
        print(f"{name}=={metadata.version(name)}")
    except metadata.PackageNotFoundError:
        print(name)
EOF
}

in_root() {  # in_root CPU COMMAND...: COMMAND in the root on an emulated CPU, /proc/cpuinfo a Pi's
  local cpu="$1"
  shift
  cpuinfo "$cpu" > "$ROOT/etc/arm-check-cpuinfo"
  local keep=(PATH=/opt/venv/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 QEMU_CPU="$cpu" PIP_CERT=/etc/arm-check-ca.crt
              EDGE_LRCN_PROBE_TIMEOUT=900 TF_CPP_MIN_LOG_LEVEL=0)
  local v
  for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY PIP_INDEX_URL; do
    [ -n "${!v:-}" ] && keep+=("$v=${!v}")
  done
  unshare --mount --propagation private sh -ec '
    root="$1"; shift
    mount -t proc proc "$root/proc"
    mount --bind "$root/etc/arm-check-cpuinfo" "$root/proc/cpuinfo"
    mount -t sysfs sysfs "$root/sys"  # without it cpuinfo fails and LiteRT runs without XNNPACK
    mount --bind /dev "$root/dev"
    mount -t tmpfs tmpfs "$root/dev/shm" 2>/dev/null || true
    exec chroot "$root" "$@"' sh "$ROOT" env -i "${keep[@]}" "$@"
}

cpuinfo() {  # a Raspberry Pi 4 (Cortex-A72, BCM2711) or 5 (Cortex-A76, BCM2712) /proc/cpuinfo, four cores
  local part features variant rev model
  case "$1" in
    cortex-a72) part=0xd08 variant=0x0 rev=3 model="Raspberry Pi 4 Model B Rev 1.5"
                features="fp asimd evtstrm crc32 cpuid" ;;
    cortex-a76) part=0xd0b variant=0x4 rev=1 model="Raspberry Pi 5 Model B Rev 1.0"
                features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp" ;;
    *) say "no Pi /proc/cpuinfo for $1 (cortex-a72 or cortex-a76)"; exit 2 ;;
  esac
  local i
  for i in 0 1 2 3; do
    printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\n' \
      "$i" "$features"
    printf 'CPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' "$variant" "$part" "$rev"
  done
  printf 'Revision\t: c03115\nModel\t\t: %s\n' "$model"
}

install_runtime() {  # the pinned wheels, once per set of pins; the checkout every run (a wheel built here)
  local want
  want="$(pins | tr '\n' ' ')"
  cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/arm-check-ca.crt" 2>/dev/null || \
    cp "$ROOT/etc/ssl/certs/ca-certificates.crt" "$ROOT/etc/arm-check-ca.crt"
  if [ "$(cat "$ROOT/.arm-check-pins" 2>/dev/null)" != "$want" ]; then
    say "installing the aarch64 runtime in the root: $want"
    rm -f "$ROOT/.arm-check-pins"
    in_root cortex-a76 /usr/bin/python3 -m venv /opt/venv
    # shellcheck disable=SC2086  # one word per pin
    in_root cortex-a76 /opt/venv/bin/pip install --quiet --disable-pip-version-check --only-binary=:all: $want \
      > "$OUT/pip.log" 2>&1 || { tail -n 20 "$OUT/pip.log"; say "pip in the root failed (network? proxy?)"; exit 1; }
    echo "$want" > "$ROOT/.arm-check-pins"
  fi
  local wheel="$OUT/wheel"
  rm -rf "$wheel"
  "$VENV/bin/python" -m pip wheel --quiet --no-deps --no-build-isolation -w "$wheel" . > "$OUT/wheel.log" 2>&1 || \
    "$VENV/bin/python" -m pip wheel --quiet --no-deps -w "$wheel" . > "$OUT/wheel.log" 2>&1 || \
    { cat "$OUT/wheel.log"; exit 1; }
  rm -rf "$ROOT/tmp/arm-check"
  mkdir -p "$ROOT/tmp/arm-check"
  cp "$wheel"/edge_lrcn-*.whl "$ROOT/tmp/arm-check/"
  in_root cortex-a76 sh -c '/opt/venv/bin/pip install --quiet --disable-pip-version-check --no-deps --force-reinstall \
    /tmp/arm-check/edge_lrcn-*.whl' > "$OUT/pip-checkout.log" 2>&1 || { cat "$OUT/pip-checkout.log"; exit 1; }
}

run_args() {  # the edge-lrcn run arguments of a run kind: int8, fp16, gpu (int8 on the CPU after the fallback)
  case "$1" in
    int8|fp16) echo "--encoder $1" ;;
    gpu) echo "--encoder int8 --delegate gpu" ;;
  esac
}

compare() {  # compare REFERENCE.jsonl EMULATED.jsonl: exit 1 with the first difference
  "$VENV/bin/python" - "$1" "$2" "$TOL" <<'EOF'
import json, sys
ref_path, got_path, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
def activity(path):
    rows = [json.loads(line) for line in open(path) if line.startswith("{")]
    return [r for r in rows if r["type"].startswith("activity_")]
ref, got = activity(ref_path), activity(got_path)
if not ref:
    sys.exit(f"no activity events in the x86 run {ref_path}")
if len(ref) != len(got):
    sys.exit(f"{len(got)} events, x86 had {len(ref)}")
worst = 0.0
for a, b in zip(ref, got):
    for key in ("type", "label", "t", "duration_s", "reason"):
        if a.get(key) != b.get(key):
            sys.exit(f"{key} differs: x86 {a} / arm {b}")
    for key in ("confidence", "peak_confidence"):
        if key in a:
            worst = max(worst, abs(a[key] - b[key]))
if worst > tol:
    sys.exit(f"a confidence differs by {worst:.4f} > {tol}")
print(f"{len(got)} events equal, confidences within {worst:.4f}")
EOF
}

kernels() {  # kernels CPU: the instructions the encoders ran there, from QEMU's log of the code it translated
  local cpu="$1" kind
  for kind in int8 fp16; do
    rm -f "$ROOT/tmp/arm-check/asm.log" "$ROOT/tmp/arm-check/maps"
    in_root "$cpu" env QEMU_LOG=in_asm QEMU_LOG_FILENAME=/tmp/arm-check/asm.log python3 -c '
import sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter
from edge_lrcn.model.bundle import read_bundle
from edge_lrcn.models import default_model_path
it = Interpreter(model_content=read_bundle(default_model_path()).member(sys.argv[1]), num_threads=1)
it.allocate_tensors()
d = it.get_input_details()[0]
it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
it.invoke()
open("/tmp/arm-check/maps", "w").write(open("/proc/self/maps").read())' "encoder_$kind.tflite" \
      > "$OUT/$cpu-kernels-$kind.log" 2>&1 || { say "$cpu $kind: the kernel probe failed ($OUT/$cpu-kernels-$kind.log)"
                                               continue; }
    say "$cpu $kind encoder ran: $("$VENV/bin/python" - "$ROOT/tmp/arm-check/asm.log" "$ROOT/tmp/arm-check/maps" \
                                    <<'PYEOF'
import collections, os, re, sys
libs = []
for line in open(sys.argv[2]):
    parts = line.split()
    if len(parts) >= 6 and "x" in parts[1]:
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        libs.append((lo, hi, os.path.basename(parts[5])))
def lib(addr):
    return next((name for lo, hi, name in libs if lo <= addr < hi), "?")
# by encoding: QEMU 7.2's disassembler has no name for SDOT/UDOT (ARMv8.2 dot product)
def dot(insn, op, args):
    return insn & 0xBFE0FC00 in (0x0E809400, 0x2E809400) or insn & 0xBFC0F400 in (0x0F80E000, 0x2F80E000)
kinds = {"dot product (sdot/udot)": dot,
         "int8 multiply-add long (smlal)": lambda insn, op, args: re.match(r"^smlal2?$", op),
         "fp16 vector fmla (.8h)": lambda insn, op, args: op == "fmla" and ".8h" in args}
seen = collections.Counter()
pattern = re.compile(r"^0x([0-9a-f]+):\s+([0-9a-f]{8})\s+(\S*)\s*(.*)$")
for line in open(sys.argv[1], errors="replace"):
    m = pattern.match(line)
    if m:
        for name, test in kinds.items():
            if test(int(m.group(2), 16), m.group(3), m.group(4)):
                seen[(name, lib(int(m.group(1), 16)))] += 1
print("; ".join(f"{n} {name} in {where}" for (name, where), n in sorted(seen.items()))
      or "no dot product, smlal or fp16 vector instruction")
PYEOF
)"
  done
  rm -f "$ROOT/tmp/arm-check/asm.log"
}

hwcap() {  # hwcap CPU: what the emulated CPU tells programs (getauxval(AT_HWCAP)), which XNNPACK's choice follows
  in_root "$1" python3 -c 'import ctypes; g = ctypes.CDLL(None).getauxval; g.restype = ctypes.c_ulong; hw = g(16); print(f"HWCAP dot product (asimddp) {bool(hw >> 20 & 1)}, LSE atomics {bool(hw >> 8 & 1)}")' 2>&1 || true
}

emulated_run() {  # emulated_run CPU KIND: 0 when the run's events equal x86's (and gpu fell back to the CPU)
  local cpu="$1" kind="$2" start=$SECONDS rc=0 result took
  # shellcheck disable=SC2046  # run_args: words
  in_root "$cpu" edge-lrcn run --source /tmp/arm-check/seq.avi --device-id arm-check --stats-interval 0 \
    $(run_args "$kind") > "$OUT/$cpu-$kind.jsonl" 2> "$OUT/$cpu-$kind.log" || rc=$?
  took=$((SECONDS - start))
  if [ "$rc" != 0 ]; then
    say "FAIL $cpu $kind: exit $rc after ${took} s: $(tail -n 3 "$OUT/$cpu-$kind.log" | tr '\n' ' ')"
    return 1
  fi
  if [ "$kind" = gpu ]; then
    say "     $cpu gpu: $(grep -ao 'LiteRT GPU accelerator unavailable (.*' "$OUT/$cpu-$kind.log" | head -n1)"
    grep -q "falling back to the CPU encoder" "$OUT/$cpu-$kind.log" || {
      say "FAIL $cpu gpu: no fallback to the CPU encoder logged ($OUT/$cpu-$kind.log)"; return 1; }
  fi
  if result="$(compare "$OUT/x86-$kind.jsonl" "$OUT/$cpu-$kind.jsonl" 2>&1)"; then
    say "ok   $cpu $kind: $result (${took} s emulated)"
  else
    say "FAIL $cpu $kind: $result"
    return 1
  fi
}

main() {
  host_venv
  install_tools
  enable_binfmt
  build_root
  install_runtime
  say "logs and events in $OUT"
  "$VENV/bin/edge-lrcn" synth --sequence "$SEQUENCE" "$ROOT/tmp/arm-check/seq.avi" > "$OUT/synth.log" 2>&1
  local kind cpu failed=0
  for kind in $RUNS; do
    # shellcheck disable=SC2046  # run_args: words
    "$VENV/bin/edge-lrcn" run --source "$ROOT/tmp/arm-check/seq.avi" --device-id arm-check --stats-interval 0 \
      $(run_args "$kind") > "$OUT/x86-$kind.jsonl" 2> "$OUT/x86-$kind.log"
  done
  for cpu in $CPUS; do
    say "$cpu: $(hwcap "$cpu")"
    for kind in $RUNS; do
      emulated_run "$cpu" "$kind" || failed=1
    done
  done
  if [ "${ARM_CHECK_KERNELS:-1}" = 1 ]; then
    for cpu in $CPUS; do
      kernels "$cpu"
    done
  fi
  if [ "$failed" = 0 ]; then
    say "all emulated runs gave the x86 events"
  else
    say "differences above (logs in $OUT)"
  fi
  return "$failed"
}

main "$@"; exit $?  # one call: the whole script is read before it runs (editing it mid-run is safe)
