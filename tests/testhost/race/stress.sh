#!/bin/bash
# stress.sh DIR MODE SECONDS, inside the KVM test host: DIR holds the
# built kvm-exits and fpu-restore. MODE job: both on every CPU the job
# may use. MODE cpu0: the guest on CPU 0, the restores on CPU 1. MODE
# cpus: only print the CPUs the job may use.
set -u
dir=$1 mode=$2 seconds=$3

# job_cpus: the CPUs this process may run on, space-separated, from the
# kernel's list ("1-2,4").
job_cpus() {
	awk -F'\t' '/^Cpus_allowed_list:/ {
		n = split($2, part, ",")
		for (i = 1; i <= n; i++) {
			if (split(part[i], r, "-") == 1) r[2] = r[1]
			for (c = r[1]; c <= r[2]; c++) { printf "%s%d", sep, c; sep = " " }
		}
		print ""
	}' /proc/self/status
}
[ "$mode" = cpus ] && { job_cpus; exit 0; }
pids=()
# Stopped from outside (a timeout: a CPU that never came back), take the
# workers along.
trap 'kill -9 "${pids[@]}" 2> /dev/null; exit 124' TERM
case $mode in
job)
	cpus=$(job_cpus)
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
