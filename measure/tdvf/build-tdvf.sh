#!/bin/bash
# Build a TDX virtual firmware (TDVF, edk2 "Config-B": OvmfPkg/IntelTdx/IntelTdxX64.dsc)
# from Debian's edk2 source package, reproducibly.
#
# Source: Debian 13 (trixie) edk2 2025.02-8+deb13u1, i.e. edk2-stable202502 plus Debian's
# patches. Debian 12 (bookworm) ships no TDVF binary; its edk2 2022.11 source builds the
# IntelTdx platform too, but that release measures no QEMU ACPI tables into RTMR0, while
# edk2-stable202502 is the generation dstack's TDVF is built from, so the RTMR0/RTMR1 event
# sequence of the real TDX event log in shared/fixtures/near-mpc/tcb_info.json applies to it.
# (measure/README.md, section "TDVF", lists what is and is not verified.)
#
# Usage: measure/tdvf/build-tdvf.sh OUT.fd
# Needs (Debian packages): nasm acpica-tools uuid-dev gcc g++ make python3 xz-utils patch,
#   and access to Debian's archive through apt (a private source list; the machine's apt
#   configuration is not touched).
# Environment:
#   TDVF_WORKDIR (default /tmp/tdsigner-tdvf): build directory. Build paths end up in the
#     firmware's PE debug directories, so byte-identical output needs the same TDVF_WORKDIR;
#     the default is fixed for that reason.
#   JOBS (default: nproc).
# Time: about 6 CPU-minutes (18-27 minutes wall on 2 cores shared with other builds).
# Output: 4 MiB OVMF.fd, SHA-256 dde58759f152f8d546e247a46d953a5ef903f37258e0e54e8a381ff88da5a010
# (two builds here were byte-identical; measure/tests/tdvf_build.rs checks it).
set -euo pipefail

OUT=${1:?usage: build-tdvf.sh OUT.fd}
OUT=$(realpath -m "$OUT")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=${TDVF_WORKDIR:-/tmp/tdsigner-tdvf}
JOBS=${JOBS:-$(nproc)}

EDK2_VERSION=2025.02-8+deb13u1
ORIG=edk2_2025.02.orig.tar.xz
DEBIAN=edk2_${EDK2_VERSION}.debian.tar.xz

for tool in nasm iasl gcc g++ make python3 apt-get sha256sum patch xz; do
  command -v "$tool" >/dev/null || {
    echo "build-tdvf: missing tool: $tool (apt-get install nasm acpica-tools uuid-dev gcc g++ make python3 xz-utils patch)" >&2
    exit 2
  }
done
[[ -e /usr/include/uuid/uuid.h ]] || { echo "build-tdvf: missing uuid-dev" >&2; exit 2; }

mkdir -p "$WORK/dl" "$WORK/apt/lists/partial"
cd "$WORK/dl"
if ! sha256sum --quiet -c "$HERE/edk2-source.sha256" 2>/dev/null; then
  cat > "$WORK/apt/sources.list" <<SRC
deb-src http://deb.debian.org/debian trixie main
deb-src http://deb.debian.org/debian-security trixie-security main
deb-src http://deb.debian.org/debian trixie-updates main
SRC
  APT_OPTS=(-o Dir::Etc::sourcelist="$WORK/apt/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$WORK/apt/lists")
  apt-get "${APT_OPTS[@]}" update >/dev/null
  # The two tarballs are what we build from. Some mirrors answer 404 for the .dsc of this
  # upload; apt then exits non-zero after fetching the tarballs, so its status is not
  # trusted here: the pinned SHA-256 sums below (the same ones as in the archive's signed
  # Sources index) are the check.
  apt-get "${APT_OPTS[@]}" source --download-only "edk2=$EDK2_VERSION" >/dev/null 2>&1 || true
fi
sha256sum --quiet -c "$HERE/edk2-source.sha256"

SRC="$WORK/edk2"
rm -rf "$SRC"
mkdir -p "$SRC"
tar -xf "$ORIG" -C "$SRC" --strip-components=1
tar -xf "$DEBIAN" -C "$SRC"
cd "$SRC"
# Debian's patch series, as dpkg-source would apply it.
while read -r p; do
  [[ -z $p || $p == \#* ]] && continue
  patch -s -p1 < "debian/patches/$p"
done < debian/patches/series

export PYTHON_COMMAND=python3
# Fixed environment for a reproducible build.
export SOURCE_DATE_EPOCH=0 LC_ALL=C TZ=UTC
unset WORKSPACE EDK_TOOLS_PATH CONF_PATH PACKAGES_PATH
make -s -C BaseTools -j"$JOBS" >/dev/null 2>&1
set +u
# shellcheck source=/dev/null
source ./edksetup.sh BaseTools >/dev/null
set -u
build -q -a X64 -t GCC5 -b RELEASE -n "$JOBS" -p OvmfPkg/IntelTdx/IntelTdxX64.dsc
install -Dm0644 Build/IntelTdx/RELEASE_GCC5/FV/OVMF.fd "$OUT"
sha256sum "$OUT"
