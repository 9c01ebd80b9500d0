#!/bin/bash
# bench/boot.sh RUNS OUT: the boot and VM rows of make bench (RUNS boots
# each; PUPA_BENCH_RUNS, default 5, warm and cold starts), run where
# /dev/kvm works (natively, or inside the KVM test host). Writes
# "row value" lines to OUT:
#   boot-pupa / boot-qemu     wall seconds from exec to the init's hello on
#                             the console, same kernel, same initramfs
#   rss-pupa / rss-qemu       KiB resident: the VMM's own (total minus the
#                             guest RAM mapping) while the guest idles
#   warm                      pupa start -- true, image cached, wall seconds
#   stage-NAME                its per-state seconds (--timings)
#   cold, coldstage-NAME      pupa start URL -- true, empty cache ($MINBASE
#                             served by nginx on 127.0.0.1 here)
#   pull                      pupa pull URL alone, empty cache
set -euo pipefail
runs=$1			# boot rows
other_runs=${PUPA_BENCH_RUNS:-5}	# warm and cold start
out=$2
: "${top_builddir:?}" "${top_srcdir:?}"
vmm=$top_builddir/vmm/pupa-vmm
pupa=$top_builddir/container/pupa
kernel=$top_builddir/images/kernel/bzImage
cpio=$top_builddir/bench/work/hello.cpio
export PATH=$PATH:/usr/sbin:/sbin
: > "$out"

now() { date +%s.%N; }

# own_rss PID: total Rss minus the guest RAM mapping (the one of 256 MiB).
own_rss() {
	local line big=0 total=0 guest=0 re='^([0-9a-f]+)-([0-9a-f]+) '
	while read -r line; do
		if [[ $line =~ $re ]]; then
			big=$(( 16#${BASH_REMATCH[2]} - 16#${BASH_REMATCH[1]} >= 256 * 1048576 ))
		elif [[ $line == Rss:* ]]; then
			set -- $line
			total=$((total + $2))
			[ "$big" -eq 1 ] && guest=$((guest + $2))
		fi
	done <<< "$(cat "/proc/$1/smaps" 2> /dev/null)"
	echo $((total - guest))
}
# note ROW VALUE: to the results, and to stdout (the test host runner
# takes a silent command for a frozen one).
note() { echo "$1 $2" | tee -a "$out"; }

# timed NAME COMMAND...: run a VMM, time the hello, sample its memory.
timed() {
	local name=$1 t0 pid line fd fifo=${TMPDIR:-/tmp}/pupa-bench-console.$$
	shift
	rm -f "$fifo"
	mkfifo "$fifo"
	t0=$(now)
	"$@" > "$fifo" 2>&1 < /dev/null &
	pid=$!
	exec {fd}< "$fifo"
	while IFS= read -r line <&$fd; do
		case $line in *PUPA-BENCH-HELLO*)
			note "boot-$name" "$(echo "$(now) - $t0" | bc)"
			sleep 0.5	# the guest idles 3 s before it reboots
			note "rss-$name" "$(own_rss "$pid")"
			;;
		esac
	done
	exec {fd}<&-
	wait "$pid" 2> /dev/null || true
	rm -f "$fifo"
}

for i in $(seq "$runs"); do
	timed pupa "$vmm" --kernel "$kernel" --initrd "$cpio" --memory 256 --cpus 1 \
		--cmdline "console=ttyS0 quiet loglevel=1" --serial stdio
	timed qemu qemu-system-x86_64 -M microvm,acpi=off -enable-kvm -cpu host -m 256 -smp 1 \
		-nodefaults -no-user-config -nographic -no-reboot -serial stdio \
		-kernel "$kernel" -initrd "$cpio" -append "console=ttyS0 quiet loglevel=1 reboot=t panic=-1"
done

# Cold start: the Debian minbase tarball over HTTP (nginx, here) with an
# empty cache, against a bare pull of the same tarball.
if [ -n "${MINBASE:-}" ] && [ -s "$MINBASE" ]; then
	. "$top_srcdir/tests/tools/nginx.sh"
	nginx_start "$(dirname "$MINBASE")" "${TMPDIR:-/tmp}/pupa-bench-nginx"
	trap nginx_stop EXIT
	url=http://127.0.0.1:$nginx_port/$(basename "$MINBASE")
	# Caches on local disk or tmpfs, never on the test host's 9p share
	# (mke2fs of a large sparse image over 9p once locked a vCPU up).
	export XDG_CACHE_HOME=${TMPDIR:-/tmp}/pupa-bench-cold
	for i in $(seq "$other_runs"); do
		rm -rf "$XDG_CACHE_HOME"
		t0=$(now)
		"$pupa" start -q --timings "$url" -- true 2> "$top_builddir/bench/work/timings"
		note cold "$(echo "$(now) - $t0" | bc)"
		sed -n 's/^pupa: timings: //p' "$top_builddir/bench/work/timings" |
			awk '{ for (i = 1; i < NF; i += 2) { s = $(i + 1); sub(/s$/, "", s); print "coldstage-" $i, s } }' >> "$out"
		rm -rf "$XDG_CACHE_HOME"
		t0=$(now)
		"$pupa" pull -q "$url" > /dev/null
		note pull "$(echo "$(now) - $t0" | bc)"
	done
	rm -rf "$XDG_CACHE_HOME"
fi

# Warm start: the default image cached by a first run.
export XDG_CACHE_HOME=${TMPDIR:-/tmp}/pupa-bench-warm
"$pupa" start -q -- true
for i in $(seq "$other_runs"); do
	t0=$(now)
	"$pupa" start -q --timings -- true 2> "$top_builddir/bench/work/timings"
	note warm "$(echo "$(now) - $t0" | bc)"
	sed -n 's/^pupa: timings: //p' "$top_builddir/bench/work/timings" |
		awk '{ for (i = 1; i < NF; i += 2) { s = $(i + 1); sub(/s$/, "", s); print "stage-" $i, s } }' >> "$out"
done
