#!/usr/bin/env bash
# Boots the tdsigner image under QEMU TCG with Debian's OVMF: the emulated
# platform (no TDX). CI and development use this; every output of the image
# says "emulated".
#
# Usage: qemu/run-emulated.sh [--image PATH] [--disk PATH] [--disk-size SIZE]
#          [--http-port HOST_PORT] [--guest-port PORT] [--cmdline STRING]
#          [--memory SIZE] [--log PATH] [--pidfile PATH] [--foreground]
#          [--p2p-port HOST_PORT [--guest-p2p-port PORT]]
#
# By default QEMU daemonizes; the script prints its PID and the serial log
# path. Networking is QEMU user-net; the host ports opened are the HTTP
# forward and, with --p2p-port, the P2P forward, both bound to 127.0.0.1. The
# guest reaches the host's loopback services (RPC, other nodes' P2P forwards)
# at 10.0.2.2.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
image="$root/out/tdsigner.efi"
disk="$root/out/disk-emulated.img"
disk_size=64M
http_port=8080
guest_port=8080
cmdline=""
memory=256M
log="$root/out/serial-emulated.log"
pidfile=""
foreground=0
p2p_port=""
guest_p2p_port=9000
firmware=${TDSIGNER_OVMF:-/usr/share/ovmf/OVMF.fd}

die() { echo "run-emulated: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --image) image=$2; shift 2 ;;
    --disk) disk=$2; shift 2 ;;
    --disk-size) disk_size=$2; shift 2 ;;
    --http-port) http_port=$2; shift 2 ;;
    --guest-port) guest_port=$2; shift 2 ;;
    --cmdline) cmdline=$2; shift 2 ;;
    --memory) memory=$2; shift 2 ;;
    --log) log=$2; shift 2 ;;
    --pidfile) pidfile=$2; shift 2 ;;
    --foreground) foreground=1; shift ;;
    --p2p-port) p2p_port=$2; shift 2 ;;
    --guest-p2p-port) guest_p2p_port=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

# Default: DHCP, HTTP on the guest port, a development account and the public
# TEST sealing key (every output of such a node says key source "test").
test_key=7474747474747474747474747474747474747474747474747474747474747474
[ -n "$cmdline" ] || cmdline="net=dhcp http=$guest_port account=node0.tdsigner.test key_source=test:$test_key"
[ -f "$image" ] || die "image $image not found; build it with: tdsigner build"
[ -f "$firmware" ] || die "OVMF firmware $firmware not found; run image-build/setup.sh"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not installed; run image-build/setup.sh"
mkdir -p "$(dirname "$disk")" "$(dirname "$log")"
if [ ! -e "$disk" ]; then
  truncate -s "$disk_size" "$disk"
fi
[ -n "$pidfile" ] || pidfile="$log.pid"
rm -f "$pidfile"

hostfwd="hostfwd=tcp:127.0.0.1:$http_port-:$guest_port"
if [ -n "$p2p_port" ]; then
  hostfwd="$hostfwd,hostfwd=tcp:127.0.0.1:$p2p_port-:$guest_p2p_port"
fi

# Every virtio device as a confidential guest gets it: QEMU forces
# iommu_platform=on and disable-legacy=on on the devices of a TD, so the
# driver must accept VIRTIO_F_ACCESS_PLATFORM and use modern virtio only.
# Emulating that here makes a driver that gets it wrong fail in CI as it
# would on TDX.
virtio_td="iommu_platform=on,disable-legacy=on"

args=(
  -nodefaults -no-user-config
  -machine q35 -accel tcg -cpu max -smp 1 -m "$memory"
  -bios "$firmware"
  -kernel "$image" -append "$cmdline"
  -drive "if=none,id=disk0,file=$disk,format=raw"
  -device "virtio-blk-pci,drive=disk0,romfile=,$virtio_td"
  -netdev "user,id=net0,$hostfwd"
  -device "virtio-net-pci,netdev=net0,romfile=,$virtio_td"
  -serial "file:$log"
  -display none -no-reboot
  -pidfile "$pidfile"
)

if [ "$foreground" = 1 ]; then
  echo "run-emulated: serial log $log; health at http://127.0.0.1:$http_port/health once booted" >&2
  exec qemu-system-x86_64 "${args[@]}"
fi

qemu-system-x86_64 "${args[@]}" -daemonize
pid=$(cat "$pidfile")
echo "qemu pid $pid"
echo "serial log $log"
echo "health http://127.0.0.1:$http_port/health"
