#!/usr/bin/env bash
# Builds the Tessera test guest from Debian i386 packages (see tools/guest/README.md):
#   vmlinuz      Debian's linux-image-*-686 kernel
#   initrd.img   busybox-static + the IDE/SCSI-disk/FAT/NE2000 modules + tools/guest/init.sh as /init
#   disk.img     MBR disk, one bootable FAT16 partition: SYSLINUX, vmlinuz, initrd.img, host.txt
# The outputs are cached under --out DIR (default <repo>/.cache/guest) in a directory named by a hash
# of the inputs (package versions, this script, init.sh), so a second run only looks the versions up.
#
# Usage: tools/guest/build.sh [--out DIR] [--append "ARGS"] [--rebuild] [--quiet]
#   --append ARGS  more kernel arguments for disk.img's boot entry (e.g. "quiet"); part of the cache key
#   --rebuild      build even when the cache has the outputs
# Prints the output paths on stdout as NAME=PATH lines; progress goes to stderr.
# Needs Debian 12 and root for the first build (apt-get); a cache hit needs neither root nor network.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/../.." && pwd)
out_root="$repo_root/.cache/guest"
rebuild=0
quiet=0
extra_append=""

usage() { sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
	case "$1" in
	--out) out_root=${2:?--out needs a directory}; shift 2 ;;
	--out=*) out_root=${1#--out=}; shift ;;
	--append) extra_append=${2?--append needs arguments}; shift 2 ;;
	--append=*) extra_append=${1#--append=}; shift ;;
	--rebuild) rebuild=1; shift ;;
	--quiet) quiet=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "build.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
	esac
done
mkdir -p "$out_root"
out_root=$(cd "$out_root" && pwd)

log() { [ "$quiet" = 1 ] || echo "guest: $*" >&2; }
# Runs an apt command with its output on stderr, or, with --quiet, kept and shown only if it fails.
apt_run() {
	if [ "$quiet" = 1 ]; then
		local out status=0
		out=$("$@" 2>&1) || status=$?
		[ $status = 0 ] || printf '%s\n' "$out" >&2
		return $status
	fi
	"$@" >&2
}
die() { echo "guest: error: $*" >&2; exit 1; }

# The kernel command line of the disk image (the initrd-only boot takes its own from the host).
# cryptomgr.notests=1 skips the boot-time crypto self-tests and noisapnp the ISA PnP scan: together
# about 3 s of a 6 s QEMU boot, and more under v86. nokaslr: the same kernel addresses on every boot.
BOOT_ARGS="cryptomgr.notests=1 noisapnp nokaslr"
DISK_APPEND="console=ttyS0 $BOOT_ARGS tessera.test=disk${extra_append:+ $extra_append}"
# Text the host leaves on the data partition for the disk test.
HOST_TXT="tessera-host-file-ok"
# Modules in the initramfs, by group; each is copied with its dependencies from modules.dep.
#   disk: ata_piix drives the PIIX3 IDE controller that v86 (8086:7010) and QEMU emulate; ata_generic
#         is a fallback for other PCI IDE emulations. sd_mod gives /dev/sdX.
#   fs:   vfat (the data partition) with its code pages (FAT: the host writes it with mtools, no mount).
#   net:  ne2k-pci (+8390) for v86's and QEMU's ne2k_pci (10ec:8029).
#   crc:  the crypto back ends of sd_mod's crc-t10dif/crc64-rocksoft (softdeps; quiet boot).
#   acpi: the ACPI power button as an input device (button, evdev): loaded only by
#         tessera.poweroff=button, which waits for a press (the host's system_powerdown).
MODULES_disk="ata_piix ata_generic sd_mod"
MODULES_fs="nls_cp437 nls_ascii nls_iso8859-1 nls_utf8 vfat"
MODULES_net="ne2k-pci"
MODULES_crc="crct10dif_generic crc64_rocksoft_generic"
MODULES_acpi="evdev button"
MODULE_GROUPS="crc disk fs net acpi"

# --- Debian packages ------------------------------------------------------------------------------

# Where apt keeps no binary cache (Docker's docker-clean sets Dir::Cache::pkgcache ""), every apt-cache
# call parses all lists again (about 2 s here): resolve with one call, and remember the answer for as
# long as the i386 package lists are unchanged, so that a cache hit needs no apt at all.
resolve_versions() {
	local out
	kernel_pkg="" kernel_ver="" busybox_ver=""
	out=$(apt-cache show --no-all-versions linux-image-686:i386 busybox-static:i386 2>/dev/null) || return 1
	# linux-image-686 is a metapackage: "Depends: linux-image-6.1.0-NN-686 (= VERSION)".
	local depends
	depends=$(awk '/^Package: linux-image-686$/ { m = 1 } m && /^Depends:/ { print; exit }' <<<"$out")
	kernel_pkg=$(grep -o 'linux-image-[0-9][^ ,]*-686' <<<"$depends" | head -n 1 || true)
	kernel_ver=$(sed -n "s/.*$kernel_pkg (= \([^)]*\)).*/\1/p" <<<"$depends")
	busybox_ver=$(awk '/^Package: busybox-static$/ { m = 1 } m && /^Version:/ { print $2; exit }' <<<"$out")
	[ -n "$kernel_pkg" ] || return 1
	if [ -z "$kernel_ver" ]; then
		kernel_ver=$(apt-cache show --no-all-versions "$kernel_pkg:i386" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)
	fi
	[ -n "$kernel_ver" ] && [ -n "$busybox_ver" ]
}

lists_signature() {
	{
		dpkg --print-foreign-architectures
		stat -c '%n %s %Y' /var/lib/apt/lists/*_binary-i386_Packages* 2>/dev/null || true
	} | sha256sum | cut -c1-16
}

memo="$out_root/.resolved"
signature=$(lists_signature)
if [ -f "$memo" ] && [ "$(sed -n 1p "$memo")" = "$signature" ]; then
	{ read -r _; read -r kernel_pkg; read -r kernel_ver; read -r busybox_ver; } <"$memo"
elif resolve_versions; then
	printf '%s\n' "$signature" "$kernel_pkg" "$kernel_ver" "$busybox_ver" 2>/dev/null >"$memo" || true
else
	[ "$(id -u)" = 0 ] || die "no i386 packages known to apt (linux-image-686:i386, busybox-static:i386): run once as root"
	if ! dpkg --print-foreign-architectures | grep -qx i386; then
		log "dpkg --add-architecture i386"
		dpkg --add-architecture i386
	fi
	log "apt-get update"
	# An index that fails to download (say, a mirror in sync) must not stop us if ours are there.
	apt_run apt-get update -q || log "apt-get update reported errors; looking for the packages all the same"
	resolve_versions || die "linux-image-686:i386 or busybox-static:i386 not found after apt-get update"
	printf '%s\n' "$(lists_signature)" "$kernel_pkg" "$kernel_ver" "$busybox_ver" >"$memo"
fi
kernel_release=${kernel_pkg#linux-image-}
# The boot loader ends up in disk.img too.
syslinux_ver=$(dpkg-query -W -f '${Version}' syslinux-common 2>/dev/null || true)
[ -n "$syslinux_ver" ] || syslinux_ver=$(apt-cache show --no-all-versions syslinux-common 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)

key=$(
	{
		echo "kernel $kernel_pkg $kernel_ver"
		echo "busybox busybox-static $busybox_ver"
		echo "syslinux $syslinux_ver"
		echo "append $DISK_APPEND"
		sha256sum "$script_dir/build.sh" "$script_dir/init.sh" | cut -d' ' -f1
	} | sha256sum | cut -c1-16
)
dest="$out_root/$key"

print_outputs() {
	ln -sfn "$key" "$out_root/current" 2>/dev/null || log "cannot update $out_root/current (not writable)"
	echo "dir=$dest"
	echo "vmlinuz=$dest/vmlinuz"
	echo "initrd=$dest/initrd.img"
	echo "disk=$dest/disk.img"
}

if [ "$rebuild" = 0 ] && [ -f "$dest/vmlinuz" ] && [ -f "$dest/initrd.img" ] && [ -f "$dest/disk.img" ] && [ -f "$dest/manifest.txt" ]; then
	log "cached: $kernel_pkg $kernel_ver, busybox-static $busybox_ver (key $key)"
	print_outputs
	exit 0
fi

[ "$(id -u)" = 0 ] || die "building needs root (apt-get); the cache has no entry $key"
# One build at a time per output directory; a build that waited may find the entry made meanwhile.
exec 9>"$out_root/.lock"
flock 9
if [ "$rebuild" = 0 ] && [ -f "$dest/manifest.txt" ]; then
	log "cached (built by a concurrent run): key $key"
	print_outputs
	exit 0
fi
log "building $key: $kernel_pkg $kernel_ver, busybox-static $busybox_ver"

# --- host tools -----------------------------------------------------------------------------------

# command:package pairs
tools="cpio:cpio gzip:gzip depmod:kmod mcopy:mtools mkfs.vfat:dosfstools syslinux:syslinux sfdisk:fdisk"
missing=""
for pair in $tools; do command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"; done
[ -f /usr/lib/syslinux/mbr/mbr.bin ] || missing="$missing syslinux-common"
if [ -n "$missing" ]; then
	log "apt-get install$missing"
	apt_run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi

# --- work directory and packages -----------------------------------------------------------------

work=$(mktemp -d "$out_root/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT
# The .deb files are kept in $out_root/debs (only the current versions) so that a change of this
# script does not download them again. apt downloads as user _apt: let it in (else a warning).
debs="$out_root/debs"
mkdir -p "$debs"
chmod 755 "$out_root" "$debs"
chown _apt "$debs" 2>/dev/null || true
deb_name() { echo "${1}_${2//:/%3a}_i386.deb"; }
kernel_deb="$debs/$(deb_name "$kernel_pkg" "$kernel_ver")"
busybox_deb="$debs/$(deb_name busybox-static "$busybox_ver")"
want=""
[ -s "$kernel_deb" ] || want="$want $kernel_pkg:i386=$kernel_ver"
[ -s "$busybox_deb" ] || want="$want busybox-static:i386=$busybox_ver"
if [ -n "$want" ]; then
	log "apt-get download$want"
	(cd "$debs" && apt_run apt-get download -q $want)
fi
[ -s "$kernel_deb" ] && [ -s "$busybox_deb" ] || die "apt-get download did not leave $kernel_deb and $busybox_deb"
for f in "$debs"/*.deb; do
	[ "$f" = "$kernel_deb" ] || [ "$f" = "$busybox_deb" ] || rm -f "$f"
done
extract() { # deb dir
	if ! dpkg -x "$1" "$2"; then
		rm -f "$1"
		die "cannot extract $1 (an interrupted download?): removed it, run again"
	fi
}
extract "$kernel_deb" "$work/kernel"
extract "$busybox_deb" "$work/busybox"

kroot="$work/kernel"
kmod_dir="$kroot/lib/modules/$kernel_release"
[ -d "$kmod_dir" ] || kmod_dir=$(find "$kroot" -mindepth 3 -maxdepth 4 -type d -path '*/lib/modules/*' -name "$kernel_release" | head -n 1)
[ -d "$kmod_dir" ] || die "no modules directory for $kernel_release in $kernel_pkg"
# The package does not ship modules.dep (the postinst runs depmod): make it in the extracted tree.
depmod_base=${kmod_dir%/lib/modules/*}
depmod -b "$depmod_base" "$kernel_release"

# --- initramfs ------------------------------------------------------------------------------------

root="$work/initramfs"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,mnt,tmp,etc/tessera,lib/modules/"$kernel_release"}
cp "$work/busybox/bin/busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
# The applet links: made here when this (amd64) host can run the i386 busybox, which saves /init a
# `busybox --install -s` (about 1 s under v86); else /init makes them.
if applets=$("$root/bin/busybox" --list-full 2>/dev/null) && [ -n "$applets" ]; then
	while IFS= read -r applet; do
		case "$applet" in */*) ;; *) continue ;; esac
		[ -e "$root/$applet" ] || [ -L "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
	done <<<"$applets"
else
	log "cannot run the i386 busybox here: /init will install its applet links"
fi
install -m 0755 "$script_dir/init.sh" "$root/init"

# Resolve each module name (dashes and underscores are equivalent) to its modules.dep path and emit
# it after its dependencies, each once.
declare -A dep_of=() path_of=() emitted=()
while IFS= read -r line; do
	mod=${line%%:*}
	deps=${line#*:}
	base=${mod##*/}
	base=${base%%.ko*}
	dep_of[$mod]=$deps
	path_of[${base//-/_}]=$mod
done <"$kmod_dir/modules.dep"
builtin_list="$kmod_dir/modules.builtin"

# Debian signs its modules, and the kernel checks an appended signature (RSA, SHA-256 over the whole
# file) at every insmod even when signatures are not enforced: under v86 that doubled the time to
# load the modules. Without the signature the kernel only notes "module verification failed ...
# tainting kernel" once. The signature is the tail: data, struct module_signature (12 bytes, the
# last 4 its big-endian length) and the magic string.
strip_signature() {
	local file=$1 magic='~Module signature appended~' size sig_len
	[ "$(tail -c 28 "$file" | head -c 27)" = "$magic" ] || return 0
	size=$(stat -c %s "$file")
	sig_len=$(tail -c 32 "$file" | head -c 4 | od -An -tu1 | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
	[ "$sig_len" -gt 0 ] && [ "$sig_len" -lt "$size" ] || die "bad module signature length in $file"
	truncate -s $((size - 28 - 12 - sig_len)) "$file"
}

module_list="$root/etc/tessera/modules"
: >"$module_list"
emit() { # group modpath
	local group=$1 mod=$2 dep
	[ -n "${emitted[$mod]:-}" ] && return 0
	for dep in ${dep_of[$mod]}; do emit "$group" "$dep"; done
	# modules.dep lists every transitive dependency, so order them: dependencies of a dependency first.
	emitted[$mod]=1
	mkdir -p "$root/lib/modules/$kernel_release/$(dirname "$mod")"
	cp "$kmod_dir/$mod" "$root/lib/modules/$kernel_release/$mod"
	strip_signature "$root/lib/modules/$kernel_release/$mod"
	echo "$group $mod" >>"$module_list"
}
for group in $MODULE_GROUPS; do
	var="MODULES_$group"
	for name in ${!var}; do
		key_name=${name//-/_}
		if [ -n "${path_of[$key_name]:-}" ]; then
			emit "$group" "${path_of[$key_name]}"
		elif grep -q "/${name}\.ko" "$builtin_list" 2>/dev/null || grep -q "/${key_name}\.ko" "$builtin_list" 2>/dev/null; then
			log "module $name is built into the kernel"
		else
			die "module $name not found in $kernel_pkg"
		fi
	done
done
printf '%s\n' "kernel=$kernel_pkg $kernel_ver" "busybox=busybox-static $busybox_ver" "key=$key" >"$root/etc/tessera/version"

# A reproducible archive: fixed times, sorted names, root:root owners without being root.
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -9 -n >"$work/initrd.img"
cp "$kroot/boot/vmlinuz-$kernel_release" "$work/vmlinuz"

# --- disk image -----------------------------------------------------------------------------------

# 64 MiB: partition 1 from sector 2048 to the end, FAT16, bootable; SYSLINUX in its boot sector and
# ldlinux.sys/.c32, the MBR code from syslinux-common.
disk_mib=64
part_start=2048
part_sectors=$((disk_mib * 2048 - part_start))
part="$work/part.img"
truncate -s $((part_sectors * 512)) "$part"
# Fixed volume id (--invariant) and times (SOURCE_DATE_EPOCH for mtools, file times for mcopy): the same inputs
# give the same disk.img.
export SOURCE_DATE_EPOCH=946684800
mkfs.vfat -F 16 -n TESSERA --invariant -h "$part_start" "$part" >/dev/null
syslinux --install "$part"
cat >"$work/syslinux.cfg" <<EOF
SERIAL 0 115200
DEFAULT tessera
PROMPT 0
TIMEOUT 0
LABEL tessera
  KERNEL vmlinuz
  INITRD initrd.img
  APPEND $DISK_APPEND
EOF
printf '%s\n' "$HOST_TXT" >"$work/host.txt"
touch -d @$SOURCE_DATE_EPOCH "$work/syslinux.cfg" "$work/vmlinuz" "$work/initrd.img" "$work/host.txt"
export MTOOLS_SKIP_CHECK=1
mcopy -i "$part" "$work/syslinux.cfg" "$work/vmlinuz" "$work/initrd.img" "$work/host.txt" ::/
disk="$work/disk.img"
truncate -s $((disk_mib * 1024 * 1024)) "$disk"
printf 'label: dos\nlabel-id: 0x7e55e1a0\nstart=%d, size=%d, type=6, bootable\n' "$part_start" "$part_sectors" |
	sfdisk --quiet "$disk"
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$disk" bs=440 count=1 conv=notrunc status=none
dd if="$part" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none

# --- publish --------------------------------------------------------------------------------------

{
	echo "key=$key"
	echo "kernel=$kernel_pkg $kernel_ver (release $kernel_release)"
	echo "busybox=busybox-static $busybox_ver"
	echo "syslinux=syslinux-common $syslinux_ver"
	echo "disk.append=$DISK_APPEND"
	echo "disk.partition=1 start=$part_start sectors=$part_sectors fat16 (host.txt, guest.txt after the disk test)"
	echo "host.txt=$HOST_TXT"
	echo "modules:"
	sed 's/^/  /' "$module_list"
	echo "sha256:"
	(cd "$work" && sha256sum vmlinuz initrd.img disk.img | sed 's/^/  /')
} >"$work/manifest.txt"

rm -rf "$dest"
mkdir -p "$dest"
mv "$work/vmlinuz" "$work/initrd.img" "$work/disk.img" "$work/manifest.txt" "$dest/"
log "built $(du -h "$dest/vmlinuz" | cut -f1) vmlinuz, $(du -h "$dest/initrd.img" | cut -f1) initrd.img, ${disk_mib} MiB disk.img in $dest"
print_outputs
