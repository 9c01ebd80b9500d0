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

# If anything hangs, say what was running (stderr: the TAP stream stays clean).
( while sleep 120; do
	echo "# watchdog: still running after another 120 s:" >&2
	ps -eo pid,stat,etime,wchan:24,args | grep -E '[p]upa-vmm|[h]ost-vsock|[t]imeout' | sed 's/^/#   /' >&2
  done ) &
watchdog=$!
trap 'kill $watchdog 2>/dev/null; rm -rf "$WORK"' EXIT

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
fi

file_times=
for t in "$here"/t-*.sh; do
	# PUPA_KVM_ONLY="t-control t-disk" runs those alone (while developing).
	case " ${PUPA_KVM_ONLY:-$(basename "$t" .sh)} " in
	*" $(basename "$t" .sh) "*) ;;
	*) continue ;;
	esac
	diag "--- $(basename "$t")"
	file_start=$SECONDS file_name=$(basename "$t" .sh)	# a test file may reuse $t
	. "$t"
	file_times="$file_times $file_name $((SECONDS - file_start))s"
done
diag "seconds per test file:$file_times (the suite: ${SECONDS}s)"
# Each traced triple fault, with the function of pupa's guest kernel at
# its RIP (the Debian kernel's boots, in t-boot, are not in that map).
if [ -n "${PUPA_TRACE_RESETS:-}" ] && [ -n "$trace" ]; then
	grep -q 'kvm_exit' "$trace/trace" && nm -n "$VMLINUX" > "$WORK/vmlinux.syms" 2> /dev/null
	grep 'kvm_exit' "$trace/trace" | while read -r line; do
		rip=$(printf '%016x' "$(echo "$line" | sed -n 's/.* rip \(0x[0-9a-f]*\).*/\1/p')")
		# nm's addresses are 16 hex digits: as strings they sort as numbers.
		set -- $(awk -v r="$rip" '$1 > r { exit } { a = $1; f = $3 } END { print a, f }' "$WORK/vmlinux.syms")
		fn=${2:+$2+$(printf '%#x' $((16#$rip - 16#$1)))}
		diag "a nested guest triple-faulted: $line${fn:+ (in our guest kernel: $fn)}"
	done
	diag "triple faults traced: $(grep -c kvm_exit "$trace/trace")"
fi
# No checks at all is a failure, never a skip.
[ "$tap_n" -gt 0 ] || not_ok "the suite ran no checks (PUPA_KVM_ONLY='${PUPA_KVM_ONLY:-}')"
echo "1..$tap_n"
[ "$tap_failed" -eq 0 ]
