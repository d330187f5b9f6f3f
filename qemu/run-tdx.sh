#!/usr/bin/env bash
# Launches the tdsigner image as an Intel TDX trust domain. Needs a TDX host
# (TDX-enabled BIOS, kernel and QEMU), TDVF firmware, jq and, for attestation,
# a quote generation service (QGS). It cannot run on machines without TDX; CI
# checks the command it builds (--print-command) and shellchecks it.
#
# Usage: qemu/run-tdx.sh --firmware TDVF.fd [--qemu-variant upstream|canonical-8.2]
#          [--manifest PATH] [--image PATH] [--disk PATH] [--http-port PORT]
#          [--cmdline STRING] [--log PATH]
#          [--qgs vsock:CID:PORT | --qgs unix:PATH | --qgs-port PORT]
#          [--allow-firmware-mismatch] [--print-command]
#
#   --qemu-variant upstream       QEMU >= 10.1 (default; what the manifest's
#                                 measurements assume)
#   --qemu-variant canonical-8.2  Canonical's TDX QEMU 8.2 (Ubuntu 24.04)
#       Both take the tdx-guest object in QEMU's JSON form, with the QGS as a
#       `quote-generation-socket` SocketAddress (QEMU qapi TdxGuestProperties;
#       Canonical's scripts use the same since 2024-08). Intel's 2023 fork
#       property `quote-generation-service=vsock:2:PORT` is not used.
#   --qgs vsock:CID:PORT   QGS over vsock (default vsock:2:4050, the host)
#   --qgs unix:PATH        QGS on a UNIX socket, e.g.
#                          unix:/var/run/tdx-qgs/qgs.socket
#   --qgs-port PORT        same as --qgs vsock:2:PORT
#   --manifest PATH        the build's manifest (default out/manifest.json):
#                          vCPUs, memory and the kernel command line of the
#                          launch its measurements were computed for, and the
#                          SHA-256 of that launch's TDVF
#   --cmdline STRING       kernel command line (default: the manifest's)
#   --allow-firmware-mismatch
#                          launch a TDVF other than the manifest's (or with a
#                          manifest built without --firmware); MRTD and RTMR0
#                          will then not match the manifest's
#   --print-command        print the QEMU command line and run nothing
#
# vCPU count and memory are part of the measurement (TDVF builds the TD HOB and
# ACPI tables from them, which land in RTMR0), so they come from the manifest
# and cannot be changed here. The TD policy is QEMU's default (SEPT_VE_DISABLE
# set, DEBUG clear); the image refuses to run without SEPT_VE_DISABLE.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
manifest="$root/out/manifest.json"
image="$root/out/tdsigner.efi"
disk="$root/out/disk-tdx.img"
firmware=""
variant=upstream
http_port=8080
cmdline=""
log="$root/out/serial-tdx.log"
qgs="vsock:2:4050"
allow_firmware_mismatch=0
print_command=0

die() { echo "run-tdx: $*" >&2; exit 2; }
warn() { echo "run-tdx: WARNING: $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --firmware|--qemu-variant|--manifest|--image|--disk|--http-port|--cmdline|--log|--qgs|--qgs-port)
      [ $# -ge 2 ] || die "$1 needs a value" ;;&
    --firmware) firmware=$2; shift 2 ;;
    --qemu-variant) variant=$2; shift 2 ;;
    --manifest) manifest=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --disk) disk=$2; shift 2 ;;
    --http-port) http_port=$2; shift 2 ;;
    --cmdline) cmdline=$2; shift 2 ;;
    --log) log=$2; shift 2 ;;
    --qgs) qgs=$2; shift 2 ;;
    --qgs-port) qgs="vsock:2:$2"; shift 2 ;;
    --allow-firmware-mismatch) allow_firmware_mismatch=1; shift ;;
    --print-command) print_command=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

# The QGS address as a QAPI SocketAddress (JSON). CID and port are strings in
# QAPI's VsockSocketAddress; a UNIX path must be absolute and need no escaping.
qgs_socket_json() {
  local spec=$1
  if [[ $spec =~ ^vsock:([0-9]{1,10}):([0-9]{1,10})$ ]]; then
    printf '{"type":"vsock","cid":"%s","port":"%s"}' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
  elif [[ $spec =~ ^unix:(/[A-Za-z0-9_./@+-]+)$ ]]; then
    printf '{"type":"unix","path":"%s"}' "${BASH_REMATCH[1]}"
  else
    die "--qgs $spec: expected vsock:CID:PORT or unix:/ABSOLUTE/PATH (letters, digits, _ . / @ + -)"
  fi
}

# One field of the manifest; refuses a missing or null field.
manifest_field() {
  jq -er "$1" "$manifest" 2>/dev/null \
    || die "$manifest: no $1 (rebuild with: tdsigner build)"
}

# Prints the command, one option (with its value) per line, shell-quoted where
# needed, so the output can be pasted into a shell.
shell_quote() {
  if [[ $1 =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then
    printf '%s' "$1"
  else
    printf "'%s'" "${1//\'/\'\\\'\'}"
  fi
}
print_quoted_command() {
  local arg line=""
  for arg in "$@"; do
    if [ -n "$line" ] && [[ $arg == -* || $line == *' '* || $line != -* ]]; then
      printf '%s \\\n  ' "$line"
      line=""
    fi
    line="${line:+$line }$(shell_quote "$arg")"
  done
  printf '%s\n' "$line"
}

command -v jq >/dev/null || die "jq is needed to read $manifest (apt-get install jq)"
[ -f "$manifest" ] || die "manifest $manifest not found; build the image with: tdsigner build --firmware TDVF.fd"
[ -n "$firmware" ] || die "--firmware TDVF.fd is required (TDVF, not Debian's OVMF)"
[ -f "$firmware" ] || die "firmware $firmware not found"
[ -f "$image" ] || die "image $image not found; build it with: tdsigner build"
[[ $http_port =~ ^[0-9]{1,5}$ ]] || die "--http-port $http_port is not a port number"
qgs_json=$(qgs_socket_json "$qgs")

# The measured launch shape, from the manifest.
cpus=$(manifest_field .measurements.launch.cpus)
memory=$(manifest_field .measurements.launch.memory)
[[ $cpus =~ ^[0-9]{1,4}$ ]] || die "$manifest: launch.cpus $cpus is not a vCPU count"
[[ $memory =~ ^[0-9]{1,7}[MG]$ ]] || die "$manifest: launch.memory $memory is not a size like 256M"
[ -n "$cmdline" ] || cmdline=$(manifest_field .measurements.launch.cmdline)
[[ $cmdline != *$'\n'* ]] || die "the kernel command line must be one line"
# The guest's HTTP port is the command line's http=PORT (the image's default 8080).
guest_port=8080
if [[ " $cmdline " =~ \ http=([0-9]{1,5})\  ]]; then guest_port=${BASH_REMATCH[1]}; fi
# The image refuses key_source=test on TDX (the host knows that key): say so before launching.
if [[ " $cmdline " =~ \ key_source=test[\ :] ]]; then
  echo "run-tdx: warning: the command line uses key_source=test, which the image refuses on TDX (the host knows that key); a real TD needs --cmdline with key_source=local-sgx:..." >&2
fi

# Firmware pin: MRTD and RTMR0 depend on every byte of the TDVF.
firmware_sha=$(sha256sum "$firmware" | cut -d' ' -f1)
expected_sha=$(jq -r '.measurements.launch.firmware.sha256 // empty' "$manifest")
if [ -z "$expected_sha" ]; then
  [ "$allow_firmware_mismatch" = 1 ] \
    || die "$manifest pins no firmware (built without --firmware), so its MRTD and RTMR0 are unknown; rebuild with: tdsigner build --firmware $firmware (or pass --allow-firmware-mismatch)"
  warn "the manifest pins no firmware: MRTD and RTMR0 of this TD are not stated anywhere"
elif [ "$firmware_sha" != "$expected_sha" ]; then
  [ "$allow_firmware_mismatch" = 1 ] \
    || die "firmware $firmware has sha256 $firmware_sha, but the manifest's MRTD and RTMR0 were computed for sha256 $expected_sha; use that TDVF, rebuild with: tdsigner build --firmware $firmware, or pass --allow-firmware-mismatch"
  warn "firmware sha256 $firmware_sha differs from the manifest's $expected_sha: MRTD and RTMR0 will NOT match the manifest's expected measurements"
fi
image_sha=$(sha256sum "$image" | cut -d' ' -f1)
expected_image_sha=$(jq -r '.sha256 // empty' "$manifest")
if [ "$image_sha" != "$expected_image_sha" ]; then
  warn "image $image is not the manifest's (sha256 $image_sha, manifest $expected_image_sha): RTMR1 will not match"
fi
if [ "$cmdline" != "$(jq -r '.measurements.launch.cmdline // empty' "$manifest")" ]; then
  echo "run-tdx: note: the kernel command line is not the manifest's launch command line; its expected measurements: tdsigner measure image --cmdline ..." >&2
fi

tdx_object=(-object "{\"qom-type\":\"tdx-guest\",\"id\":\"tdx0\",\"quote-generation-socket\":$qgs_json}")
case "$variant" in
  upstream)
    machine=(-object "memory-backend-ram,id=mem0,size=$memory"
             -machine "q35,kernel_irqchip=split,confidential-guest-support=tdx0,memory-backend=mem0,hpet=off")
    ;;
  canonical-8.2)
    machine=(-machine "q35,kernel_irqchip=split,confidential-guest-support=tdx0,hpet=off")
    warn "the manifest's measurements assume QEMU $(jq -r '.measurements.launch.qemu // "?"' "$manifest"); for Canonical's 8.2 compute them with: tdsigner measure image --page-add-order two-pass [--legacy-header-patch] ..."
    ;;
  *) die "unknown --qemu-variant $variant (upstream or canonical-8.2)" ;;
esac

qemu=(qemu-system-x86_64
  -nodefaults -no-user-config
  -accel kvm -cpu host -smp "$cpus" -m "$memory"
  "${tdx_object[@]}" "${machine[@]}"
  -bios "$firmware"
  -kernel "$image" -append "$cmdline"
  -drive "if=none,id=disk0,file=$disk,format=raw"
  -device "virtio-blk-pci,drive=disk0,romfile="
  -netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$http_port-:$guest_port"
  -device "virtio-net-pci,netdev=net0,romfile="
  -serial "file:$log" -display none -no-reboot)

if [ "$print_command" = 1 ]; then
  print_quoted_command "${qemu[@]}"
  exit 0
fi

[ -r /dev/kvm ] || die "/dev/kvm is not available: TDX needs KVM on a TDX host"
mkdir -p "$(dirname "$disk")" "$(dirname "$log")"
[ -e "$disk" ] || truncate -s 64M "$disk"
exec "${qemu[@]}"
