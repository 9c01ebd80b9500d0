#!/bin/bash
# bench/boot.sh PART RUNS OUT: the boot and VM rows of make bench (RUNS
# boots each; PUPA_BENCH_RUNS, default 5, cold starts; PUPA_BENCH_WARM_RUNS,
# default 15, warm starts), run where /dev/kvm works (natively, or inside
# the KVM test host), in three parts that run apart (so that a test host
# that freezes in one costs only that one): start (boot, cold and warm
# start), net, fs. Writes "row value" lines to OUT:
#   boot-pupa / boot-qemu     wall seconds from exec to the init's hello on
#                             the console, same kernel, initramfs and
#                             command line (bench/boottime measures)
#   uptime-pupa / uptime-qemu the guest's own uptime at that hello
#   rss-pupa / rss-qemu       KiB resident: the VMM's own (total minus the
#                             guest RAM mapping) while the guest idles
#   warm                      pupa start -- true, image cached, wall seconds:
#                             resumed from the snapshot its first run made
#   stage-NAME                its per-state seconds (--timings)
#   snapshot-make             seconds the first run spent making it
#   restore                   seconds pupa-vmm spent resuming it (map and
#                             check the file, set the state), in LaunchingGuest
#   warm-boot, bootstage-NAME the same with --no-snapshot: a fresh boot
#   cold, coldstage-NAME      pupa start URL -- true, empty cache ($MINBASE
#                             served by nginx on 127.0.0.1 here)
#   pull                      pupa pull URL alone, empty cache
#   boot-pupa-net             boot-pupa with --net slirp (the device and
#                             libslirp set up, the guest probing virtio-net)
#   warm-none                 the warm start with --network none (resumed)
#   net-*                     bench/net.sh: TCP throughput against QEMU's
#                             -netdev user
#   fs-*                      bench/fs.sh: volumes, pupa-vmm's virtio-fs
#                             against QEMU's 9p
set -euo pipefail
part=$1
runs=$2			# boot rows
other_runs=${PUPA_BENCH_RUNS:-5}	# cold start
# Warm starts are about a second each, so they get more runs: the network's
# row (with / without, medians of 5) swung 0.98-1.18 between two benches.
warm_runs=${PUPA_BENCH_WARM_RUNS:-15}
out=$3
case $part in start|net|fs) ;; *) echo "bench/boot.sh: PART is start, net or fs" >&2; exit 2 ;; esac
: "${top_builddir:?}" "${top_srcdir:?}"
boottime=$top_builddir/bench/work/boottime
# pupa and pupa-vmm run installed in tmpfs (bin/ beside the guest files,
# where pupa looks first): in the test host the build tree is a 9p share
# with no page cache, where every exec pages the binary in over 9p
# (measured: a warm start's Transient 0.05 s from there, 0.007 s from
# tmpfs), while QEMU runs from the cached root. No installation is slow
# like that.
inst=${TMPDIR:-/tmp}/pupa-bench-install
rm -rf "$inst"
mkdir -p "$inst/bin"
cp "$top_builddir/container/pupa" "$top_builddir/vmm/pupa-vmm" "$inst/bin/"
cp "$top_builddir/images/kernel/bzImage" "$top_builddir/images/initramfs.cpio" \
	"$top_builddir/images/default-rootfs.tar.gz" "$inst/"
vmm=$inst/bin/pupa-vmm
pupa=$inst/bin/pupa
if [ "$part" = start ]; then
	# Both VMMs read the kernel and initramfs from tmpfs: in the test host the
	# build tree is a 9p share, slow in a way no installation is.
	files=${TMPDIR:-/tmp}/pupa-bench-boot
	mkdir -p "$files"
	cp "$top_builddir/images/kernel/bzImage" "$top_builddir/bench/work/hello.cpio" "$files/"
	kernel=$files/bzImage
	cpio=$files/hello.cpio
	# pupa start's own guest command line (container/vmm_proc.c), for both.
	cmdline="console=ttyS0 quiet loglevel=1"
fi
export PATH=$PATH:/usr/sbin:/sbin
: > "$out"

# exit_time COMMAND...: its wall seconds from fork to exit (bench/boottime,
# like the boot rows: no date(1) forks inside the measurement); its stderr
# into bench/work/timings, its stdout dropped.
exit_time() {
	"$boottime" - 0 -- "$@" 2> "$top_builddir/bench/work/timings" | awk '$1 == "exit" { print $2 }'
}

# note ROW VALUE: to the results, and to stdout (the test host runner
# takes a silent command for a frozen one).
note() { echo "$1 $2" | tee -a "$out"; }

# timed NAME COMMAND...: boot with a VMM, time the hello, sample its memory.
timed() {
	local name=$1 r
	shift
	r=$("$boottime" PUPA-BENCH-HELLO 256 -- "$@")
	note "boot-$name" "$(awk '$1 == "boot" { print $2 }' <<< "$r")"
	note "uptime-$name" "$(awk '$1 == "line" { print $3 }' <<< "$r")"
	note "rss-$name" "$(awk '$1 == "rss" { print $2 }' <<< "$r")"
}

if [ "$part" = start ]; then
	for i in $(seq "$runs"); do
		timed pupa "$vmm" --kernel "$kernel" --initrd "$cpio" --memory 256 --cpus 1 \
			--cmdline "$cmdline" --serial stdio
		timed pupa-net "$vmm" --kernel "$kernel" --initrd "$cpio" --memory 256 --cpus 1 \
			--cmdline "$cmdline" --serial stdio --net slirp
		# reboot=t: QEMU microvm has no i8042 for reboot=k (pupa-vmm's).
		timed qemu qemu-system-x86_64 -M microvm,acpi=off -enable-kvm -cpu host -m 256 -smp 1 \
			-nodefaults -no-user-config -nographic -no-reboot -serial stdio \
			-kernel "$kernel" -initrd "$cpio" -append "$cmdline reboot=t panic=-1"
	done
	rm -rf "$files"

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
			v=$(exit_time "$pupa" start -q --timings "$url" -- true)
			note cold "$v"
			sed -n 's/^pupa: timings: //p' "$top_builddir/bench/work/timings" |
				awk '{ for (i = 1; i < NF; i += 2) { s = $(i + 1); sub(/s$/, "", s); print "coldstage-" $i, s } }' >> "$out"
			rm -rf "$XDG_CACHE_HOME"
			v=$(exit_time "$pupa" pull -q "$url")
			note pull "$v"
		done
		rm -rf "$XDG_CACHE_HOME"
	fi

	# Warm start: the default image cached, and the snapshot made, by a first
	# run; then the same with --no-snapshot, a fresh boot each time, and with
	# --network none (its own snapshot, made by its first run). The three kinds
	# take turns, so a test host that slows down or speeds up during the bench
	# moves them alike (measured apart, the network's ratio swung 0.98-1.37).
	export XDG_CACHE_HOME=${TMPDIR:-/tmp}/pupa-bench-warm
	exit_time "$pupa" start -q --timings -- true > /dev/null
	note snapshot-make "$(sed -n 's/.*making the snapshot \([0-9.]*\)s.*/\1/p' "$top_builddir/bench/work/timings")"
	exit_time "$pupa" start -q --network none -- true > /dev/null
	# Two unmeasured runs of each kind first. Under emulation the first starts
	# resumed after the snapshot is made run slower and settle (measured in one
	# make bench: 1.32, 1.05, 1.17, then 0.78, 0.72 s), likely QEMU translating
	# the guest kernel's code anew; the rows are the settled state, both kinds
	# treated alike. Natively there is no translation to warm.
	for i in 1 2; do
		exit_time "$pupa" start -q -- true > /dev/null
		exit_time "$pupa" start -q --no-snapshot -- true > /dev/null
		exit_time "$pupa" start -q --network none -- true > /dev/null
	done
	# stages PREFIX: the last run's per-state seconds, as rows PREFIX-STATE
	stages() {
		sed -n 's/^pupa: timings: //p' "$top_builddir/bench/work/timings" | sed 's/ (.*//' |
			awk -v p="$1" '{ for (i = 1; i < NF; i += 2) { s = $(i + 1); sub(/s$/, "", s); print p "-" $i, s } }' >> "$out"
	}
	for i in $(seq "$warm_runs"); do
		note warm "$(exit_time "$pupa" start -q --timings -- true)"
		grep -q 'resumed from a snapshot' "$top_builddir/bench/work/timings" ||
			{ echo "bench: a warm start did not resume the snapshot" >&2; exit 1; }
		note restore "$(sed -n 's/.*restore \([0-9.]*\)s.*/\1/p' "$top_builddir/bench/work/timings")"
		stages stage
		note warm-boot "$(exit_time "$pupa" start -q --timings --no-snapshot -- true)"
		stages bootstage
		note warm-none "$(exit_time "$pupa" start -q --network none -- true)"
	done

fi

case $part in
net) . "$top_srcdir/bench/net.sh" ;;
fs) . "$top_srcdir/bench/fs.sh" ;;
esac
rm -rf "$inst"
