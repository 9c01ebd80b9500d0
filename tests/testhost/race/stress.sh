#!/bin/bash
# stress.sh DIR MODE SECONDS, inside the KVM test host: DIR holds the
# built kvm-exits and fpu-restore. MODE job: both on every CPU the job
# may use. MODE cpu0: the guest on CPU 0, the restores on CPU 1.
set -u
dir=$1 mode=$2 seconds=$3
pids=()
case $mode in
job)
	cpus=$(python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)))')
	echo "stress: guests and FPU restores on CPUs $cpus of $(nproc --all)"
	for c in $cpus; do
		taskset -c "$c" "$dir/kvm-exits" "$seconds" & pids+=($!)
		taskset -c "$c" "$dir/fpu-restore" "$seconds" & pids+=($!)
	done ;;
cpu0)
	echo "stress: a guest on CPU 0, FPU restores on CPU 1"
	taskset -c 0 "$dir/kvm-exits" "$seconds" & pids+=($!)
	taskset -c 1 "$dir/fpu-restore" "$seconds" & pids+=($!) ;;
esac
rc=0
for p in "${pids[@]}"; do
	wait "$p" || rc=1
done
[ "$rc" = 0 ] && echo "stress: the test host survived"
exit "$rc"
