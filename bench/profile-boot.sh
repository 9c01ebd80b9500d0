#!/bin/bash
# bench/profile-boot.sh [RUNS]: where a boot's time goes, for pupa-vmm and
# QEMU microvm with the same kernel and the boot benchmark's initramfs
# (make bench builds it). Run as root where /dev/kvm works, e.g.
#   tests/testhost/run -- bash bench/profile-boot.sh
# Per run, from perf tracepoints: the VMM's exec, its first guest entry,
# the first byte of the hello on COM1; then the KVM exit reasons of one
# boot each. Not part of make bench: it needs perf (linux-perf).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/pupa-profile.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$here/images/kernel/bzImage" "$here/bench/work/hello.cpio" "$work/"
cmdline="console=ttyS0 quiet loglevel=1"
pupa=("$here/vmm/pupa-vmm" --kernel "$work/bzImage" --initrd "$work/hello.cpio" --memory 256
	--cpus 1 --cmdline "$cmdline" --serial stdio)
qemu=(qemu-system-x86_64 -M microvm,acpi=off -enable-kvm -cpu host -m 256 -smp 1 -nodefaults
	-no-user-config -nographic -no-reboot -serial stdio -kernel "$work/bzImage"
	-initrd "$work/hello.cpio" -append "$cmdline reboot=t panic=-1")
mountpoint -q /sys/kernel/tracing || mount -t tracefs none /sys/kernel/tracing 2> /dev/null || true

split() {	# NAME COMMAND...
	local name=$1
	shift
	perf record -q -o "$work/p.data" -e sched:sched_process_exec -e kvm:kvm_entry -e kvm:kvm_pio \
		"$here/bench/work/boottime" PUPA-BENCH-HELLO 256 -- "$@" > /dev/null
	perf script -i "$work/p.data" -F comm,time,event,trace 2> /dev/null | awk -v name="$name" '
	{ t = $2; sub(/:$/, "", t); if (!t0) t0 = t; rel = t - t0 }
	/sched_process_exec/ && !ex && $1 != "boottime" { ex = rel }
	/kvm_entry/ && !en { en = rel }
	/pio_write at 0x3f8 / && /val 0x50/ && !he { he = rel }	# the P of the hello
	END { printf "%-6s exec %.3f  set-up %.3f  guest-to-hello %.3f  total %.3f\n", name, ex, en - ex, he - en, he }'
}

exits() {	# NAME COMMAND...
	local name=$1
	shift
	perf record -q -o "$work/e.data" -e kvm:kvm_exit -e kvm:kvm_userspace_exit "$@" > /dev/null 2>&1
	echo "$name: KVM exits by reason (one boot)"
	perf script -i "$work/e.data" -F event,trace 2> /dev/null | awk '
	/kvm_exit/ { sub(/.*reason /, ""); n[$1]++ } /kvm_userspace_exit/ { u++ }
	END { for (r in n) printf "  %6d %s\n", n[r], r; printf "  %6d of them on to the VMM in user space\n", u }' | sort -rn
}

for i in $(seq "$runs"); do
	split pupa "${pupa[@]}"
	split qemu "${qemu[@]}"
done
exits pupa "${pupa[@]}"
exits qemu "${qemu[@]}"
