#!/usr/bin/env bash
# Set up a fresh Debian 12 machine for Tessera and build everything (both configurations).
# Installs the Debian packages the tests use as peers and tools, then the npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  qemu-utils   # qemu-img: the interop peer for image formats
  qemu-block-extra  # qemu-img's curl driver: the http(s) tests compare against qemu-img on the same URLs
  strace       # traces file opens in the module-isolation test
  openssh-server openssh-client  # sshd run unprivileged on a loopback port, ssh-agent: block-ssh's tests (and qemu-img's ssh driver)
  tgt          # tgtd, the iSCSI target block-iscsi's tests log in to (no systemd needed)
  ceph-mon ceph-osd ceph-common librbd1  # a single-node Ceph (mon + OSD on memstore) block-rbd's tests start, and the librbd it loads
  nbdkit       # an NBD server (memory, file, pattern plugins; delay filter) block-nbd's tests read and write through
  libnbd-bin   # nbdinfo and nbdcopy: real NBD clients of tessera-nbd's tests and bench (bench/nbd-server.mjs)
  bximage cloop-utils bzip2  # make bochs and cloop test images, and DMG bzip2 chunks (read-only formats, issue 16)
  gdb          # stops qemu-io at a chosen write, leaving a VHDX with a log to replay (block-vhdx tests)
  openssl      # makes the self-signed CA for the https tests, and the x509 certificates of the NBD TLS tests
  seabios      # the emulator's default BIOS
  chromium     # the real browser for the web display tests (driven by playwright-core)
  mtools       # reads files out of the guest's FAT disk image in the emulator tests
  time         # GNU time: peak memory and CPU time of the executables (hostile module directory, sparse-file tests)
  qemu-system-x86  # qemu-system-i386: a lock peer, and how the emulator must end on SIGINT/SIGTERM/SIGHUP
  python3 make g++ # node-gyp builds block-file's image-lock addon (native/ofd-lock.c)
  # Stock i386 boot media the emulator boots in its tests (boot-media.test.ts), and the tools that
  # make an ISOLINUX CD and a SYSLINUX disk at test time
  ipxe memtest86+ grub-rescue-pc isolinux syslinux syslinux-common debian-installer-12-netboot-i386
  xorriso dosfstools
)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq || echo "setup: apt-get update reported errors; installing anyway" >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

npm ci --no-audit --no-fund

# The test guest (kernel, initramfs, bootable disk) from Debian i386 packages; cached in .cache/guest.
bash tools/guest/build.sh --quiet >/dev/null

export NX_NO_CLOUD=true NX_DAEMON=false NX_TUI=false
npx nx run-many -t build --output-style=static
npx nx run-many -t build --configuration=static --output-style=static
