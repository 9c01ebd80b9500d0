#!/bin/sh
# PID 1 of the KVM test host. Loads the modules that give /dev/kvm and 9p,
# mounts the host root read-only and the shared folders read-write, runs
# the job in a chroot, prints its exit status and reboots (QEMU then exits).
export PATH=/bin
/bin/busybox --install -s /bin
# The runner's sign that the test host booted (a freeze before this point
# is caught sooner than one in the middle of a command).
echo PUPA-TESTHOST-UP

fail() {
	echo "testhost: $*"
	echo
	echo "PUPA-TESTHOST-EXIT: 125"
	reboot -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev

# A heartbeat on the second serial port, from outside the job: a newline
# a second, which the runner watches. Its stopping means the test host
# itself stopped (every CPU waiting for an interrupt that never comes),
# whatever the command prints or does not.
( while sleep 1; do echo; done ) > /dev/ttyS1 2> /dev/null &

while read -r ko; do
	insmod "$ko" || fail "insmod $ko failed"
done < /modules
[ -c /dev/kvm ] || fail "no /dev/kvm after loading kvm_amd (does the CPU model have svm?)"

arg() { sed -n "s/.*pupa\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
shares=$(arg shares | tr ',' ' ')

opts=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$opts,ro,cache=loose" hostroot /host || fail "cannot mount the host root over 9p"
for d in tmp var/tmp run; do
	mount -t tmpfs -o mode=1777 tmpfs "/host/$d" || fail "tmpfs on /$d"
done
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs dev /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /host/dev/pts
mount -t tmpfs tmpfs /host/dev/shm
i=0
for s in $shares; do
	mkdir -p "/host$s" 2>/dev/null
	mount -t 9p -o "$opts" "share$i" "/host$s" || fail "cannot mount share $s"
	i=$((i + 1))
done
mkdir -p /host/run/pupa-job
mount -t 9p -o "$opts" job /host/run/pupa-job || fail "cannot mount the job folder"
ip link set lo up

# The job never runs on CPU 0, so no KVM guest does. QEMU's emulated
# CPUs (TCG; 10.0.2, and upstream's source of 2026-12) clear a flag in
# CPU 0's hidden flag word, hflags2, whenever any CPU restores an FPU
# state (FXRSTOR, XRSTOR: every return to a task that used the FPU),
# without a lock, from that CPU's own thread (cpu_clear_ignne). The same
# word holds CPU 0's SVM state, which changes on every VMRUN, #VMEXIT,
# STGI and CLGI; a write from another CPU that lands across one of those
# puts back stale bits: CPU 0 then takes interrupts with IF clear, or
# none at all (GIF clear). That was the test host's freezes and panics.
# A CPU that never enters a guest keeps its hflags2 still, so the stale
# write changes nothing (tests/kvm/t-testhost.sh checks).
cpus=$(nproc)
pin=
[ "$cpus" -gt 1 ] && pin="taskset -c 1-$((cpus - 1))"

# The command's output goes to a file on the job share, not through the
# emulated serial port: faster, and a stalled UART cannot hold it up.
$pin chroot /host /bin/sh /run/pupa-job/run.sh > /host/run/pupa-job/output 2>&1
rc=$?
echo "$rc" > /host/run/pupa-job/status
echo
echo "PUPA-TESTHOST-EXIT: $rc"
sync
reboot -f
