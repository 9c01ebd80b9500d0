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

for t in "$here"/t-*.sh; do
	# PUPA_KVM_ONLY="t-control t-disk" runs those alone (while developing).
	case " ${PUPA_KVM_ONLY:-$(basename "$t" .sh)} " in
	*" $(basename "$t" .sh) "*) ;;
	*) continue ;;
	esac
	diag "--- $(basename "$t")"
	. "$t"
done
# No checks at all is a failure, never a skip.
[ "$tap_n" -gt 0 ] || not_ok "the suite ran no checks (PUPA_KVM_ONLY='${PUPA_KVM_ONLY:-}')"
echo "1..$tap_n"
[ "$tap_failed" -eq 0 ]
