#!/usr/bin/env bash
# Launches the tdsigner image as an Intel TDX trust domain. Needs a TDX host
# (TDX-enabled BIOS, kernel and QEMU), TDVF firmware and, for attestation, a
# quote generation service (QGS) listening on vsock port 4050. It cannot run on
# machines without TDX; CI only shellchecks it.
#
# vCPU count and memory size are part of the measurement (TDVF builds the TD
# HOB and ACPI tables from them, which land in RTMR0), so they are fixed here
# and must match the launch config in out/manifest.json. Change them only
# together with the expected measurements.
#
# Usage: qemu/run-tdx.sh --firmware TDVF.fd [--qemu-variant upstream|canonical-8.2]
#          [--image PATH] [--disk PATH] [--http-port PORT] [--cmdline STRING]
#          [--log PATH] [--qgs-port 4050]
#
#   upstream       QEMU >= 10.1 (`-object '{"qom-type":"tdx-guest",...}'`,
#                  quote-generation-socket as a SocketAddress)
#   canonical-8.2  Canonical's TDX QEMU 8.2 (`-object tdx-guest,...,
#                  quote-generation-service=vsock:2:PORT`)
#
# The TD policy is QEMU's default (SEPT_VE_DISABLE set, DEBUG clear); the
# image refuses to run without SEPT_VE_DISABLE.
set -euo pipefail

# Measured launch configuration: keep in sync with the manifest.
readonly CPUS=1
readonly MEMORY=256M

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
image="$root/out/tdsigner.efi"
disk="$root/out/disk-tdx.img"
firmware=""
variant=upstream
http_port=8080
cmdline="net=dhcp http=8080"
log="$root/out/serial-tdx.log"
qgs_port=4050

die() { echo "run-tdx: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --firmware) firmware=$2; shift 2 ;;
    --qemu-variant) variant=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --disk) disk=$2; shift 2 ;;
    --http-port) http_port=$2; shift 2 ;;
    --cmdline) cmdline=$2; shift 2 ;;
    --log) log=$2; shift 2 ;;
    --qgs-port) qgs_port=$2; shift 2 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

[ -n "$firmware" ] || die "--firmware TDVF.fd is required (TDVF, not Debian's OVMF)"
[ -f "$firmware" ] || die "firmware $firmware not found"
[ -f "$image" ] || die "image $image not found; build it with: tdsigner build"
[ -r /dev/kvm ] || die "/dev/kvm is not available: TDX needs KVM on a TDX host"
mkdir -p "$(dirname "$disk")" "$(dirname "$log")"
[ -e "$disk" ] || truncate -s 64M "$disk"

case "$variant" in
  upstream)
    tdx_object=(-object "{\"qom-type\":\"tdx-guest\",\"id\":\"tdx0\",\"quote-generation-socket\":{\"type\":\"vsock\",\"cid\":\"2\",\"port\":\"$qgs_port\"}}")
    machine=(-object "memory-backend-ram,id=mem0,size=$MEMORY"
             -machine "q35,kernel_irqchip=split,confidential-guest-support=tdx0,memory-backend=mem0,hpet=off")
    ;;
  canonical-8.2)
    tdx_object=(-object "tdx-guest,id=tdx0,quote-generation-service=vsock:2:$qgs_port")
    machine=(-machine "q35,kernel_irqchip=split,confidential-guest-support=tdx0,hpet=off")
    ;;
  *) die "unknown --qemu-variant $variant (upstream or canonical-8.2)" ;;
esac

exec qemu-system-x86_64 \
  -nodefaults -no-user-config \
  -accel kvm -cpu host -smp "$CPUS" -m "$MEMORY" \
  "${tdx_object[@]}" "${machine[@]}" \
  -bios "$firmware" \
  -kernel "$image" -append "$cmdline" \
  -drive "if=none,id=disk0,file=$disk,format=raw" \
  -device "virtio-blk-pci,drive=disk0,romfile=" \
  -netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$http_port-:8080" \
  -device "virtio-net-pci,netdev=net0,romfile=" \
  -serial "file:$log" -display none -no-reboot
