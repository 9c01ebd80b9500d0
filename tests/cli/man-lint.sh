#!/bin/sh
# The man pages lint clean with mandoc, their SYNOPSIS is the --help usage
# word for word, every flag of --help is documented, and every GuestError
# has its exit status in pupa-vmm(1).
set -u
: "${top_builddir:?}" "${top_srcdir:?}"
fail=0
page=$top_srcdir/man/pupa-vmm.1

for p in "$page" "$top_srcdir/man/pupa-init.8"; do
	out=$(mandoc -Tlint "$p" 2>&1) || { echo "mandoc -Tlint $p:"; echo "$out"; fail=1; }
done

norm() { tr -s ' \t\n' '   ' | sed 's/^ //; s/ $//'; }
synopsis=$(mandoc -Tascii "$page" | col -b | sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' | norm)
usage=$("$top_builddir/vmm/pupa-vmm" --help | sed -n '/^usage:/,/^$/p' | sed 's/^usage://' | norm)
if [ "$synopsis" != "$usage" ]; then
	echo "pupa-vmm(1) SYNOPSIS and --help differ:"
	echo "  man:  $synopsis"
	echo "  help: $usage"
	fail=1
fi

rendered=$(mandoc -Tascii "$page" | col -b)
for flag in $("$top_builddir/vmm/pupa-vmm" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	echo "$rendered" | grep -q -- "$flag" || { echo "pupa-vmm(1) does not document $flag"; fail=1; }
done
for e in InternalError DeviceNotPresent BadConfig GuestInitializationFailure \
	 DeviceInitializationFailure DeviceStartFailure DeviceMemoryOverlap FailedServiceConnect \
	 DuplicatePublicServices KernelLoadFailure VcpuStartFailure VcpuRuntimeFailure NotCreated \
	 AlreadyRunning ControllerForcedHalt; do
	echo "$rendered" | grep -qE "^ +[0-9]+ $e\$" || { echo "pupa-vmm(1) has no exit status for $e"; fail=1; }
done
exit $fail
