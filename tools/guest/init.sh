#!/bin/sh
# /init of the Tessera test guest (busybox sh, runs as PID 1 from the initramfs).
#
# Prints "TESSERA-GUEST: ..." markers on the console (console=ttyS0), loads the kernel modules listed
# in /etc/tessera/modules, runs the test named by `tessera.test=NAME` on the kernel command line and
# powers off. Without ACPI (bare v86) `poweroff -f` only halts the CPU: the host must watch for the
# final "TESSERA-GUEST: poweroff" marker. See tools/guest/README.md for the tests and parameters.

/bin/busybox mkdir -p /proc /sys /dev /mnt /tmp /bin /sbin /usr/bin /usr/sbin
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
# No /dev/console node in the archive (it is built without root-owned device nodes), so the kernel
# started us without stdin/stdout: attach them now that devtmpfs is there.
exec </dev/console >/dev/console 2>&1
# build.sh makes the applet links when it can; else make them now.
[ -e /bin/ls ] || /bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
umask 022

mark() {
	echo "TESSERA-GUEST: $*"
	# Mirror on the VGA text console too (for screen-based host checks); ignore when there is none.
	{ echo "TESSERA-GUEST: $*" >/dev/tty0; } 2>/dev/null
}

# tessera.poweroff=button: wait for the ACPI power button (the host's system_powerdown) before
# powering off. Loads the acpi module group, finds the button's input device and reads one event.
wait_power_button() {
	load_group acpi
	ev=""
	for d in /sys/class/input/event*; do
		[ "$(cat "$d/device/name" 2>/dev/null)" = "Power Button" ] && ev=${d##*/}
	done
	if [ -z "$ev" ]; then
		mark "error no ACPI power button"
		return
	fi
	# Opened before saying ready: evdev gives events only to readers that have it open.
	exec 3<"/dev/input/$ev"
	mark "powerbutton ready dev=$ev"
	dd of=/dev/null bs=16 count=1 <&3 2>/dev/null
	exec 3<&-
	mark "powerbutton pressed"
}

finish() {
	[ "${p_poweroff:-}" = button ] && wait_power_button
	mark "poweroff"
	sync
	poweroff -f
	# Without ACPI (bare v86) poweroff -f returns or halts; keep PID 1 alive so the kernel does not panic.
	while :; do sleep 3600; done
}

fail() {
	mark "error $*"
	finish
}

# Kernel command line: tessera.NAME=VALUE -> variable p_NAME (dots and dashes become underscores).
for word in $(cat /proc/cmdline); do
	case "$word" in
	tessera.*=*)
		name=${word%%=*}
		name=$(echo "${name#tessera.}" | tr '.-' '__')
		value=${word#*=}
		case "$name" in *[!A-Za-z0-9_]*) continue ;; esac
		eval "p_$name=\$value"
		;;
	esac
done
test_name=${p_test:-marker}

mark "booted"
mark "uptime $(cut -d' ' -f1 /proc/uptime) kernel $(uname -r) test=$test_name"

# Modules: lines "GROUP PATH" in load order (dependencies first), written by tools/guest/build.sh.
# load_group GROUP loads one group (any group but acpi's when GROUP is "all").
load_group() {
	while read -r group path; do
		[ -n "$path" ] || continue
		case "$1" in all) [ "$group" != acpi ] || continue ;; "$group") ;; *) continue ;; esac
		out=$(insmod "/lib/modules/$(uname -r)/$path" 2>&1) || case "$out" in
			*"File exists"*) ;;
			*) mark "warning insmod $path: $out" ;;
		esac
	done </etc/tessera/modules
}

# tessera.modules=none skips them (fastest boot for the marker test).
if [ "${p_modules:-all}" != none ]; then
	load_group all
	mark "modules loaded"
fi

# Wait up to $2 seconds (default 20) for the block device $1 to appear.
wait_for_dev() {
	i=0
	limit=$((${2:-20} * 10))
	while [ ! -b "$1" ]; do
		i=$((i + 1))
		[ $i -gt $limit ] && return 1
		usleep 100000
	done
	return 0
}

icmp_in_echos() {
	awk '/^Icmp:/ { if (!col) { for (i = 1; i <= NF; i++) if ($i == "InEchos") col = i } else { print $col; exit } }' /proc/net/snmp
}

net_up() {
	[ -n "$p_ip" ] || fail "tessera.ip= is required for test $test_name"
	dev=${p_netdev:-eth0}
	i=0
	while [ ! -e "/sys/class/net/$dev" ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "no network device $dev"
		usleep 100000
	done
	[ -n "$p_mac" ] && ip link set "$dev" address "$p_mac"
	ip link set lo up
	ip addr add "$p_ip/${p_prefix:-24}" dev "$dev" || fail "ip addr add $p_ip on $dev"
	ip link set "$dev" up || fail "ip link set $dev up"
	mark "net up dev=$dev ip=$p_ip mac=$(cat /sys/class/net/$dev/address)"
}

case "$test_name" in
marker)
	;;
disk)
	dev=${p_disk:-/dev/sda1}
	fstype=${p_fs:-vfat}
	wait_for_dev "$dev" "${p_disk_wait:-30}" || fail "no block device $dev ($(ls /sys/block | tr '\n' ' '))"
	mount -t "$fstype" "$dev" /mnt || fail "mount -t $fstype $dev"
	if [ -f /mnt/host.txt ]; then
		mark "host.txt=$(head -n 1 /mnt/host.txt | tr -d '\r')"
	else
		mark "host.txt missing"
	fi
	echo "${p_write:-tessera-guest-wrote-this}" >/mnt/guest.txt || fail "write guest.txt"
	sync
	umount /mnt || fail "umount $dev"
	mark "disk done"
	;;
ping)
	net_up
	[ -n "$p_peer" ] || fail "tessera.peer= is required for test ping"
	count=${p_count:-3}
	# One echo at a time until $count are answered: the peer may still be booting, and it counts
	# the requests it sees (pong), so no more are sent once enough have been answered.
	deadline=$(($(cut -d. -f1 /proc/uptime) + ${p_timeout:-30}))
	received=0
	while [ "$received" -lt "$count" ] && [ "$(cut -d. -f1 /proc/uptime)" -lt "$deadline" ]; do
		if ping -c 1 -W 5 "$p_peer" >/dev/null 2>&1; then
			received=$((received + 1))
		else
			sleep 1
		fi
	done
	echo "ping $p_peer: $received of $count echo requests answered"
	if [ "${received:-0}" -ge "$count" ]; then
		mark "ping ok received=$received/$count peer=$p_peer"
	else
		mark "ping fail received=${received:-0}/$count peer=$p_peer"
	fi
	;;
pong)
	net_up
	count=${p_count:-3}
	timeout=${p_timeout:-60}
	mark "pong ready ip=$p_ip"
	i=0
	while [ "$(icmp_in_echos)" -lt "$count" ] && [ $i -lt $((timeout * 10)) ]; do
		i=$((i + 1))
		usleep 100000
	done
	# Let the last echo reply leave before powering off.
	sleep 1
	mark "pong done echo-requests=$(icmp_in_echos)"
	;;
echo)
	tty=/dev/${p_tty:-console}
	mark "echo ready tty=$tty"
	if IFS= read -r line <"$tty"; then
		mark "echo=$(echo "$line" | tr -d '\r')"
	else
		fail "echo: end of input on $tty"
	fi
	;;
shell)
	mark "shell (exit to power off)"
	setsid cttyhack sh
	;;
*)
	fail "unknown test $test_name"
	;;
esac

mark "test $test_name done"
finish
