# Helpers for the KVM suite: TAP output, busybox initramfs images made on
# the fly with mkcpio, and a pupa-vmm runner that checks the console.
# Sourced by run-all.sh; expects top_builddir and top_srcdir.

: "${top_builddir:?}" "${top_srcdir:?}"
VMM=$top_builddir/vmm/pupa-vmm
MKCPIO=$top_builddir/images/mkcpio
BZIMAGE=$top_builddir/images/kernel/bzImage
VMLINUX=$top_builddir/images/kernel/vmlinux
BUSYBOX=${PUPA_BUSYBOX:-/bin/busybox}
VM_TIMEOUT=${PUPA_VM_TIMEOUT:-120}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pupa-kvm.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

tap_n=0
tap_failed=0

ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $*"; }
not_ok() { tap_n=$((tap_n + 1)); tap_failed=$((tap_failed + 1)); echo "not ok $tap_n - $*"; }
diag() { echo "# $*"; }
# check DESCRIPTION COMMAND...: one TAP line from a command's status.
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
# vmm_find [PPID]: whether a pupa-vmm runs (a child of PPID, if given);
# its pid in vmm_pid. Read from /proc in the shell itself: in the test
# host a pgrep costs a third of a second, which the fault loop paid four
# times a round, and its killer before each kill.
vmm_find() {
	local d comm stat f
	vmm_pid=
	for d in /proc/[0-9]*; do
		read -r comm < "$d/comm" 2> /dev/null && [ "$comm" = pupa-vmm ] || continue
		if [ -n "${1:-}" ]; then
			read -r stat < "$d/stat" 2> /dev/null || continue
			f=(${stat##*) })	# state, ppid, ...
			[ "${f[1]}" = "$1" ] || continue
		fi
		vmm_pid=${d#/proc/}
		return 0
	done
	return 1
}
# nap SECONDS: sleep(1) without the exec, which costs a tenth of a
# second in the test host: a read that times out on a FIFO no one writes
# (opened read-write, so it never sees an end; the test host has no
# /dev/fd for a process substitution).
mkfifo "$WORK/nap.fifo" && exec {nap_fd}<> "$WORK/nap.fifo"
nap() { read -r -t "$1" -u "$nap_fd" _ || :; }
# vmm_gone: no pupa-vmm left, after up to 5 s for the last to go.
vmm_gone() {
	local i
	for ((i = 0; i < 50; i++)); do vmm_find || return 0; nap 0.1; done
	return 1
}
# empty_dir DIR: DIR has no entries (or does not exist).
empty_dir() {
	local e
	for e in "$1"/* "$1"/.[!.]* "$1"/..?*; do [ -e "$e" ] || [ -L "$e" ] && return 1; done
	return 0
}
# resumed NAME: the pupa start whose --timings went to $WORK/NAME.err ran
# on a guest resumed from the snapshot.
resumed() { grep -q 'resumed from a snapshot' "$WORK/$1.err"; }

# make_initramfs OUT TEST_SCRIPT [LIST_LINE...]
# A busybox initramfs whose /init mounts proc, sys and dev, runs the test
# script, prints PUPA-GUEST-DONE with its status and reboots.
make_initramfs() {
	local out=$1 script=$2 list=$WORK/$(basename "$1").list
	shift 2
	cat > "$WORK/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs dev /dev 2>/dev/null
/bin/busybox --install -s /bin
export PATH=/bin
echo PUPA-GUEST-BEGIN uptime=$(cut -d' ' -f1 /proc/uptime)
sh /test.sh
echo "PUPA-GUEST-DONE rc=$?"
reboot -f
INIT
	{
		echo "dir /bin 0755 0 0"
		echo "dir /dev 0755 0 0"
		echo "dir /proc 0755 0 0"
		echo "dir /sys 0755 0 0"
		echo "dir /tmp 1777 0 0"
		echo "nod /dev/console 0600 0 0 c 5 1"
		echo "file /bin/busybox $BUSYBOX 0755 0 0"
		echo "file /init $WORK/init 0755 0 0"
		echo "file /test.sh $script 0644 0 0"
		for l in "$@"; do echo "$l"; done
	} > "$list"
	"$MKCPIO" -o "$out" "$list"
}

# run_vm NAME ARGS...: boot pupa-vmm with ARGS, console to $WORK/NAME.console.
# Sets vm_status (exit status of pupa-vmm), vm_console (the log file) and
# vm_wall (seconds, wall clock). Returns 0 only for a clean run: exit 0,
# the guest's DONE marker with rc=0, and no kernel panic on the console.
run_vm() {
	local name=$1 start end
	shift
	vm_console=$WORK/$name.console
	start=$(date +%s.%N)
	timeout -k 5 "$VM_TIMEOUT" "$VMM" --serial "$vm_console" "$@" 2> "$WORK/$name.stderr"
	vm_status=$?
	end=$(date +%s.%N)
	vm_wall=$(echo "$end - $start" | bc)
	# The guest's tty writes \r\n; compare lines without the \r.
	[ -f "$vm_console" ] && sed -i 's/\r$//' "$vm_console"
	if [ "$vm_status" -eq 124 ]; then
		diag "$name: pupa-vmm did not finish within $VM_TIMEOUT s"
	fi
	if grep -q 'Kernel panic - not syncing' "$vm_console" 2>/dev/null; then
		diag "$name: kernel panic on the guest console:"
		show_console 20
		return 1
	fi
	if [ "$vm_status" -ne 0 ]; then
		diag "$name: pupa-vmm exited with $vm_status: $(cat "$WORK/$name.stderr")"
		show_console 20
		return 1
	fi
	if ! grep -q '^PUPA-GUEST-DONE rc=0' "$vm_console"; then
		diag "$name: the guest did not finish its test:"
		show_console 20
		return 1
	fi
	return 0
}

# awk ends every line, the last one too: a console cut mid-line must not
# swallow the next TAP line.
show_console() { tail -n "$1" "$vm_console" 2>/dev/null | cut -c1-300 | awk '{ print "#   | " $0 }'; }

# Lines the guest test printed as "RESULT key=value".
guest_value() { sed -n "s/^RESULT $1=//p" "$vm_console" | tr -d '\r' | tail -1; }
