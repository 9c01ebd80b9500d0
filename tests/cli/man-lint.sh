#!/bin/sh
# The man pages lint clean with mandoc, their SYNOPSIS is the --help usage
# word for word, every flag of --help is documented, and every GuestError
# has its exit status in pupa-vmm(1).
set -u
: "${top_builddir:?}" "${top_srcdir:?}"
fail=0
page=$top_srcdir/man/pupa-vmm.1

for p in "$page" "$top_srcdir/man/pupa-init.8" "$top_srcdir/man/pupa.1"; do
	# Warnings and errors fail; STYLE notes do not (our pages cite each
	# other, and an uninstalled page is "not found").
	out=$(mandoc -Tlint -W warning "$p" 2>&1) || { echo "mandoc -Tlint $p:"; echo "$out"; fail=1; }
done

norm() { tr -s ' \t\n' '   ' | sed 's/^ //; s/ $//'; }
# same_synopsis PAGE PROGRAM: SYNOPSIS == usage, every flag documented
same_synopsis() {
	local synopsis usage rendered flag
	synopsis=$(mandoc -Tascii "$1" | col -b | sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' | norm)
	usage=$("$2" --help | sed -n '/^usage:/,/^$/p' | sed 's/^usage://' | norm)
	if [ "$synopsis" != "$usage" ]; then
		echo "$1: SYNOPSIS and --help differ:"
		echo "  man:  $synopsis"
		echo "  help: $usage"
		fail=1
	fi
	rendered=$(mandoc -Tascii "$1" | col -b)
	for flag in $("$2" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
		echo "$rendered" | grep -q -- "$flag" || { echo "$1 does not document $flag"; fail=1; }
	done
}
same_synopsis "$page" "$top_builddir/vmm/pupa-vmm"
same_synopsis "$top_srcdir/man/pupa.1" "$top_builddir/container/pupa"
rendered=$(mandoc -Tascii "$page" | col -b)
for e in InternalError DeviceNotPresent BadConfig GuestInitializationFailure \
	 DeviceInitializationFailure DeviceStartFailure DeviceMemoryOverlap FailedServiceConnect \
	 DuplicatePublicServices KernelLoadFailure VcpuStartFailure VcpuRuntimeFailure NotCreated \
	 AlreadyRunning ControllerForcedHalt; do
	echo "$rendered" | grep -qE "^ +[0-9]+ $e\$" || { echo "pupa-vmm(1) has no exit status for $e"; fail=1; }
done
exit $fail
