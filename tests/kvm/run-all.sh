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

for t in "$here"/t-*.sh; do
	diag "--- $(basename "$t")"
	. "$t"
done
echo "1..$tap_n"
[ "$tap_failed" -eq 0 ]
