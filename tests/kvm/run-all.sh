#!/bin/bash
# The KVM integration suite, as TAP. Runs on whatever /dev/kvm it finds;
# suite.tap decides whether that is native or inside the test host.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

if [ ! -c /dev/kvm ]; then
	echo "Bail out! no /dev/kvm here"
	exit 1
fi
diag "KVM: $(uname -r) on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"

# In the test host (our own VM, free to trace): every triple fault of a
# nested guest, with where it was. A guest that resets on its own is an
# open finding (docs/security.md), and on AMD KVM resets the vCPU before
# pupa-vmm sees the exit, so the kernel's exit trace alone has its RIP.
trace=/sys/kernel/tracing
if [ -n "${PUPA_TRACE_RESETS:-}" ]; then
	[ -d "$trace/events" ] || mount -t tracefs tracefs "$trace" 2> /dev/null
	if { echo 'exit_reason == 127' > "$trace/events/kvm/kvm_exit/filter" &&	# SVM_EXIT_SHUTDOWN
	     echo 1 > "$trace/events/kvm/kvm_exit/enable"; } 2> /dev/null; then
		diag "tracing the nested guests' triple faults (kvm_exit, reason shutdown)"
	else
		diag "cannot trace the nested guests' triple faults here (no kvm_exit tracepoint)"
		trace=
	fi
else
	trace=
fi

# guest_fn RIP: what code is at RIP, as "fn+offset": our guest kernel's
# function when RIP is inside it; otherwise, in the test host, "test
# host's fn+offset [module]" when it is inside the test host's own kernel
# or a module of it, which a nested guest's exit should never name (the
# stock kernel of t-boot's guest is the same Debian kernel, at another
# random base, so for it that name means nothing); nothing for user space.
guest_fn() {
	local rip
	rip=$(printf '%016x' "$1")
	case $rip in ffffffff*) ;; *) return 0 ;; esac	# user space
	[ -s "$WORK/vmlinux.syms" ] || nm -n "$VMLINUX" > "$WORK/vmlinux.syms" 2> /dev/null
	# nm's addresses are 16 hex digits: as strings they sort as numbers.
	set -- $(awk -v r="$rip" '$1 > r { exit } { a = $1; f = $3 } END { print a, f }' "$WORK/vmlinux.syms")
	if [ "${2:-_end}" != _end ]; then
		echo "$2+$(printf '%#x' $((16#$rip - 16#$1)))"
		return 0
	fi
	[ -n "$trace" ] || return 0
	[ -s "$WORK/host.syms" ] || LC_ALL=C sort /proc/kallsyms > "$WORK/host.syms" 2> /dev/null
	set -- $(awk -v r="$rip" '$1 > r { exit } { a = $1; f = $3; m = $4 } END { print a, f, m }' "$WORK/host.syms")
	[ -n "${2:-}" ] && echo "test host's $2+$(printf '%#x' $((16#$rip - 16#$1)))${3:+ $3}"
}
# vcpu_exits: one second of every nested guest's KVM exits, counted by
# thread, reason, RIP and exit_info_2 (an NPF's guest-physical address),
# in a trace instance of its own so that the reset trace keeps its records.
# A guest that spins, or a KVM that loops on one fault, shows here.
vcpu_exits() {
	local inst=$trace/instances/pupa-exits n task why rip info2 fn
	[ -n "$trace" ] || return 0
	# One left by a sample that could not remove it goes first.
	[ -d "$inst" ] && rmdir "$inst" 2> /dev/null
	mkdir "$inst" 2> /dev/null || { echo "#   (cannot sample KVM exits: no trace instance)"; return 0; }
	echo 1 > "$inst/events/kvm/kvm_exit/enable"
	sleep 1
	echo 0 > "$inst/events/kvm/kvm_exit/enable"
	sed -n 's/^ *\([^ ]*\) .* reason \([^ ]*\) rip \(0x[0-9a-f]*\) info1 [^ ]* info2 \([^ ]*\).*/\1 \2 \3 \4/p' "$inst/trace" |
		sort | uniq -c | sort -rn | head -8 > "$WORK/exits.top"
	while read -r n task why rip info2; do
		fn=$(guest_fn "$rip")
		echo "#   $n exits: $task $why rip $rip $fn info2 $info2"
		# A nested guest "at" the test host's own code: the emulation's.
		case $fn in "test host's "*) echo "$n $why $rip $fn" >> "$emulation_faults" ;; esac
	done < "$WORK/exits.top"
	[ -s "$WORK/exits.top" ] || echo "#   no KVM exit at all in that second"
	rmdir "$inst"
}
# vmm_threads: each pupa-vmm that has run for over a minute: its threads
# (tid, name, state, CPU ticks, kernel wait, and the system call it is in,
# "running" for user space) and its guest console's last lines. A vCPU
# burning CPU inside KVM_RUN is the nested emulation's business
# (vcpu_exits says more); a device thread spinning in user space is ours.
vmm_threads() {
	local pid secs t serial
	ps -o pid=,etimes= -C pupa-vmm > "$WORK/vmm.ages"
	while read -r pid secs; do
		[ "$secs" -gt 60 ] || continue
		echo "#   pupa-vmm $pid: its threads (tid, name, state, CPU ticks, kernel wait, system call):"
		for t in /proc/"$pid"/task/*; do
			echo "#     ${t##*/} $(cat "$t/comm" "$t/stat" 2> /dev/null |
				awk 'NR == 1 { c = $0 } NR == 2 { sub(/.*\) /, ""); split($0, f, " "); print c, f[1], f[12] + f[13] }') $(cat "$t/wchan" 2> /dev/null) $(cut -d' ' -f1 "$t/syscall" 2> /dev/null)"
		done
		serial=$(tr '\0' '\n' < "/proc/$pid/cmdline" 2> /dev/null | sed -n '/^--serial$/{n;p;}')
		[ -f "$serial" ] && tail -n 5 "$serial" | sed 's/^/#     console| /'
	done < "$WORK/vmm.ages"
}

# Exit samples that put a nested guest at the test host's own code
# (docs/security.md: QEMU ran the guest with the host's state), one line
# each; a file that failed meanwhile runs again, as for a reset.
emulation_faults=$WORK/emulation-faults
: > "$emulation_faults"
emulation_faults_seen() { wc -l < "$emulation_faults"; }

# If anything hangs, say what was running, and where a VM has run for
# over a minute, its threads and console and (in the test host) its
# vCPUs' exits (stderr: the TAP stream stays clean).
( while sleep 120; do
	echo "# watchdog: still running after another 120 s:"
	ps -eo pid,stat,etime,time,wchan:24,args | grep -E '[p]upa-vmm|[h]ost-vsock|[t]imeout' | sed 's/^/#   /'
	ps -o etimes= -C pupa-vmm | awk '$1 > 60 { found = 1 } END { exit !found }' && { vmm_threads; vcpu_exits; }
  done >&2 ) &
watchdog=$!
trap 'kill $watchdog 2>/dev/null; rm -rf "$WORK"' EXIT

# resets_traced: the nested guests' triple faults traced so far (none
# natively, where nothing is traced).
resets_traced() {
	local n=0
	[ -n "$trace" ] && n=$(grep -c kvm_exit "$trace/trace")
	echo "${n:-0}"
}
# report_resets FROM: each traced triple fault after the first FROM, with
# the function at its RIP (guest_fn).
report_resets() {
	[ -n "$trace" ] || return 0
	grep 'kvm_exit' "$trace/trace" | tail -n +$(($1 + 1)) | while read -r line; do
		fn=$(guest_fn "$(echo "$line" | sed -n 's/.* rip \(0x[0-9a-f]*\).*/\1/p')")
		diag "a nested guest triple-faulted: $line${fn:+ (at $fn)}"
	done
}

# run_file FILE OUT: one test file, in a subshell of its own so that a file
# that dies (an unset variable, an exit) ends alone, its checks numbered on
# from those before it, its TAP held in OUT. Then file_ok and file_bad
# count its checks, and file_whole is 1 when it ran to its end.
run_file() {
	( . "$1"; echo "# kvm-suite: end of $(basename "$1")" ) > "$2"
	file_ok=$(grep -c '^ok ' "$2")
	file_bad=$(grep -c '^not ok ' "$2")
	file_whole=$(grep -c '^# kvm-suite: end of ' "$2")
}

# A file whose checks failed while the test host traced a nested guest's
# triple fault (docs/security.md: QEMU's emulated AMD-V, about one boot in
# a hundred; natively nothing is traced), or while an exit sample found a
# nested guest at the test host's own code, runs once more, in a fresh
# folder, and that run is its result; the first is shown whole, as
# comments, with the resets. A file that makes resets on purpose (t-boot)
# says so, and is not run again.
# After a test host froze, suite.tap runs the suite again without the
# files that ended before (PUPA_KVM_SKIP), their results kept, numbering
# on after theirs (PUPA_KVM_TAP_FROM); each file ends with a line that
# says so.
tap_n=${PUPA_KVM_TAP_FROM:-0}
file_times=
for t in "$here"/t-*.sh; do
	file_name=$(basename "$t" .sh)
	# PUPA_KVM_ONLY="t-control t-disk" runs those alone (while developing).
	case " ${PUPA_KVM_ONLY:-$file_name} " in
	*" $file_name "*) ;;
	*) continue ;;
	esac
	case " ${PUPA_KVM_SKIP:-} " in
	*" $file_name "*) continue ;;
	esac
	diag "--- $file_name.sh"
	file_start=$SECONDS
	tap=$WORK/$file_name.tap
	resets0=$(resets_traced)
	emu0=$(emulation_faults_seen)
	run_file "$t" "$tap"
	resets1=$(resets_traced)
	emu1=$(emulation_faults_seen)
	if [ $((file_bad + 1 - file_whole)) -gt 0 ] && [ $((resets1 + emu1)) -gt $((resets0 + emu0)) ] &&
	   ! grep -q '^# kvm-suite: resets on purpose' "$t"; then
		diag "$file_name: checks failed: $file_bad, ran to its end: $([ "$file_whole" -eq 1 ] && echo yes || echo no), nested guests that triple-faulted meanwhile: $((resets1 - resets0)), or ran at the test host's own code: $((emu1 - emu0)); its first run:"
		sed 's/^/#   first run| /' "$tap"
		report_resets "$resets0"
		diag "--- $file_name.sh, once more in a fresh folder"
		tap=$WORK/again-$file_name/$file_name.tap
		mkdir -p "$WORK/again-$file_name"
		WORK=$WORK/again-$file_name run_file "$t" "$tap"
	fi
	grep -v '^# kvm-suite: end of ' "$tap"
	tap_n=$((tap_n + file_ok + file_bad))
	tap_failed=$((tap_failed + file_bad))
	[ "$file_whole" -eq 1 ] || not_ok "$file_name.sh ended before its end (see above)"
	diag "--- $file_name.sh: done in $((SECONDS - file_start)) s"
	file_times="$file_times $file_name $((SECONDS - file_start))s"
done
diag "seconds per test file:$file_times (the suite: ${SECONDS}s)"
if [ -n "$trace" ]; then
	report_resets 0
	diag "triple faults traced: $(resets_traced)"
fi
# No checks at all is a failure, never a skip.
[ "$tap_n" -gt 0 ] || not_ok "the suite ran no checks (PUPA_KVM_ONLY='${PUPA_KVM_ONLY:-}')"
echo "1..$tap_n"
[ "$tap_failed" -eq 0 ]
