#!/usr/bin/env bash
# One-time setup of a Debian 12 (bookworm) machine for building, booting and
# testing tdsigner. Installs, with apt: QEMU, OVMF, shellcheck, jq, and the exact
# Debian Rust toolchain the image is built with (versions from
# image-build/toolchain.txt, so the image stays reproducible); with cargo:
# cargo-fuzz for the fuzz smoke runs. Host tools use the machine's rustup
# toolchain (stable), which this script expects to be present.
#
# Usage: image-build/setup.sh        (as root, or with sudo available)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
spec="$here/toolchain.txt"
cargo_fuzz_version=0.13.2

sudo=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "setup: run as root or install sudo" >&2; exit 2; }
  sudo=(sudo)
fi

pinned=()
while read -r key name version; do
  [ "$key" = "package:" ] && pinned+=("$name=$version")
done < "$spec"
[ "${#pinned[@]}" -gt 0 ] || { echo "setup: no packages in $spec" >&2; exit 2; }

echo "setup: apt packages: qemu-system-x86 ovmf shellcheck jq ${pinned[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
  qemu-system-x86 ovmf shellcheck jq git ca-certificates "${pinned[@]}"

command -v cargo >/dev/null || { echo "setup: no host cargo on PATH (a rustup stable toolchain is expected)" >&2; exit 2; }
if ! cargo fuzz --version 2>/dev/null | grep -q "$cargo_fuzz_version"; then
  echo "setup: cargo install cargo-fuzz $cargo_fuzz_version"
  cargo install --locked --quiet cargo-fuzz --version "$cargo_fuzz_version"
fi

# Refuse to report success unless the image toolchain is the pinned one.
/usr/bin/rustc --version
/usr/bin/cargo --version
echo "setup: done"
