# Snapshots at the pupa-vmm level: a running guest written to a file over
# the control socket, then resumed from it by another pupa-vmm (twice) with
# its memory, vCPU, clock and disk queue state whole; and every file that is
# not the right one refused (another key, RAM size or vCPU count, a flipped
# byte, a file cut short) with BadConfig naming it.

HV=$top_builddir/tests/kvm/host-vsock
snap=$WORK/guest.snap
head -c $((2 * 1024 * 1024)) /dev/urandom > "$WORK/snap-disk.img"
disk_sha=$(sha256sum < "$WORK/snap-disk.img" | cut -c1-64)
key=$(printf 'pupa-snapshot-test' | sha256sum | cut -c1-64)

# The guest: a secret only its RAM knows, the disk read once, then ticks.
# Resumed, it goes on counting and reads the disk again through the same
# virtqueue: no second init, the same secret.
cat > "$WORK/snap.sh" <<'T'
secret=$(head -c 16 /dev/urandom | md5sum | cut -c1-16)
echo "RESULT pre=$(sha256sum /dev/vda | cut -c1-64)"
echo "READY $secret"
i=0
while [ $i -lt 60 ]; do
	echo "TICK $i $secret"
	sleep 0.1
	i=$((i + 1))
done
echo "RESULT post=$(sha256sum /dev/vda | cut -c1-64)"
echo "RESULT secret=$secret"
T
make_initramfs "$WORK/snap.cpio" "$WORK/snap.sh"
snap_args="--memory 256 --cpus 2 --disk $WORK/snap-disk.img,ro --snapshot-key $key"

"$VMM" --serial "$WORK/snap1.console" --kernel "$BZIMAGE" --initrd "$WORK/snap.cpio" \
	--cmdline "console=ttyS0 quiet loglevel=1" --control "$WORK/snap1.ctl" $snap_args \
	2> "$WORK/snap1.stderr" &
snap_pid=$!
for _ in $(seq 600); do grep -q '^READY' "$WORK/snap1.console" 2>/dev/null && break; sleep 0.2; done
"$HV" ctl-fd "$WORK/snap1.ctl" "$snap" '{"request":"snapshot"}' > "$WORK/snap1.reply"
"$HV" ctl "$WORK/snap1.ctl" 1 '{"request":"stop"}' > /dev/null
wait $snap_pid
secret=$(sed -n 's/^READY \([0-9a-f]*\).*/\1/p' "$WORK/snap1.console" | tr -d '\r')
grep -q '"reply":"snapshot"' "$WORK/snap1.reply"
check "snapshot: a running guest is written to a file over the control socket ($(tr -d '\n' < "$WORK/snap1.reply" | cut -c1-120))" [ $? = 0 ]

# snap_restore NAME ARGS...: pupa-vmm --restore with the machine as it was.
snap_restore() {
	local name=$1
	shift
	run_vm "$name" --restore "$snap" --control "$WORK/$name.ctl" "$@"
}
for n in 1 2; do
	if snap_restore "restore$n" $snap_args; then
		first=$(sed -n 's/^TICK \([0-9]*\) .*/\1/p' "$vm_console" | head -1)
		[ -n "$secret" ] && [ "$(guest_value secret)" = "$secret" ] &&
			[ "$(guest_value post)" = "$disk_sha" ] && [ -n "$first" ] &&
			! grep -q 'PUPA-GUEST-BEGIN' "$vm_console" && ! grep -q '^READY' "$vm_console"
		check "restore $n: the guest goes on from tick $first with its RAM, vCPUs and disk queue (no second boot, same secret, disk read again)" [ $? = 0 ]
	else
		not_ok "restore $n: the guest goes on from the snapshot"
	fi
done
diag "snapshot: $(stat -c %s "$snap") bytes apparent, $(( $(stat -c %b "$snap") * 512 >> 20 )) MiB on disk; restore took ${vm_wall} s to the guest's end"

# refused NAME WHAT ARGS...: pupa-vmm --restore fails with BadConfig (3) and a message
# naming the file and matching WHAT; nothing of the guest ran.
refused() {
	local name=$1 what=$2
	shift 2
	timeout -k 5 60 "$VMM" --serial "$WORK/$name.console" "$@" 2> "$WORK/$name.stderr" < /dev/null
	st=$?
	[ $st -eq 3 ] && grep -q "$what" "$WORK/$name.stderr" && ! grep -q TICK "$WORK/$name.console" 2>/dev/null
}
other_key=$(printf 'another' | sha256sum | cut -c1-64)
check "restore refuses a snapshot made under another key" \
	refused rkey "made for another kernel" --restore "$snap" --memory 256 --cpus 2 \
	--disk "$WORK/snap-disk.img,ro" --snapshot-key "$other_key"
check "restore refuses another RAM size, naming both" \
	refused rmem "holds 256 MiB of RAM, this VM has 512 MiB" --restore "$snap" --memory 512 --cpus 2 \
	--disk "$WORK/snap-disk.img,ro" --snapshot-key "$key"
check "restore refuses another vCPU or device set" \
	refused rcpu "another set of vCPUs or devices" --restore "$snap" --memory 256 --cpus 1 \
	--disk "$WORK/snap-disk.img,ro" --snapshot-key "$key"
# flip_bits FILE OFFSET MASK: the byte at OFFSET xor MASK, in place.
flip_bits() {
	local byte
	byte=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "\\$(printf '%03o' $((byte ^ $3)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2> /dev/null
}
cp "$snap" "$WORK/flipped.snap"
flip_bits "$WORK/flipped.snap" $(( $(stat -c %s "$snap") - 100 )) 0x10
check "restore refuses a snapshot with a flipped byte in its state" \
	refused rflip "flipped.snap: its state is corrupt" --restore "$WORK/flipped.snap" $snap_args
# The kernel's text at 16 MiB (its load address) is in the file: a
# present page, mapped and checksummed, not a hole.
cp "$snap" "$WORK/flipram.snap"
ram_at=$(( 4096 + (16 << 20) + 4096 + 123 ))
nonzero=$(dd if="$snap" bs=4096 skip=$(( (ram_at - 123) / 4096 )) count=1 2> /dev/null | tr -d '\0' | wc -c)
flip_bits "$WORK/flipram.snap" "$ram_at" 0x01
ram_flip_refused() {
	[ "$nonzero" -gt 0 ] &&
		refused rflipram "flipram.snap: its RAM is corrupt" --restore "$WORK/flipram.snap" $snap_args
}
check "restore refuses a snapshot with a flipped bit in a page of its RAM" ram_flip_refused
head -c $(( $(stat -c %s "$snap") - 4096 )) "$snap" > "$WORK/short.snap"
check "restore refuses a snapshot cut short" \
	refused rshort "short.snap: cut short" --restore "$WORK/short.snap" $snap_args
check "--restore with --kernel is a BadConfig (the boot is the snapshot's)" \
	refused rkernel "are the snapshot's" --restore "$snap" --kernel "$BZIMAGE" $snap_args
rm -f "$snap" "$WORK/flipped.snap" "$WORK/flipram.snap" "$WORK/short.snap"

# --- pupa start: the warm start ----------------------------------------------------------------
# Its own cache: the first start here boots and makes the snapshot.
PUPA=$top_builddir/container/pupa
SC=$WORK/snap-cache
SD=$SC/pupa/snapshots
mkdir -p "$WORK/snap-tmp" "$WORK/snap-vol"
# pstart NAME ARGS...: pupa start with this cache; NAME.out, NAME.err; sets st.
pstart() {
	local name=$1
	shift
	XDG_CACHE_HOME=$SC TMPDIR=$WORK/snap-tmp timeout -k 5 180 "$PUPA" start -q --timings "$@" \
		> "$WORK/$name.out" 2> "$WORK/$name.err" < /dev/null
	st=$?
}
pshow() { sed 's/^/#   | /' "$WORK/$1.out" "$WORK/$1.err" | tail -n 15; }
pexpect() {
	local name=$1 desc=$2
	shift 2
	if "$@"; then ok "$desc"; else not_ok "$desc"; diag "status $st"; pshow "$name"; fi
}
made() { grep -q 'booted; making the snapshot' "$WORK/$1.err"; }
snapfile() { ls "$SD"/*.snap 2> /dev/null | head -1; }
export -f made resumed	# the checks below run them in bash -c
export WORK
rand_cmd='echo "$(head -c 64 /dev/urandom | md5sum | cut -c1-32) $(cat /proc/sys/kernel/random/boot_id)"'

pstart first -- sh -c 'echo first; exit 5'
pexpect first "the first start boots, makes a snapshot, and runs the command (output, status 5)" \
	bash -c "[ $st -eq 5 ] && [ \"\$(cat '$WORK/first.out')\" = first ] && grep -q 'booted; making the snapshot' '$WORK/first.err' && [ -s \"\$(ls $SD/*.snap)\" ]"
made_at=$(date +%s)
pstart again -- sh -c 'echo again; exit 6'
pexpect again "the next start resumes the snapshot (--timings says so) with the command's output and status 6" \
	bash -c "[ $st -eq 6 ] && [ \"\$(cat '$WORK/again.out')\" = again ] && grep -q 'resumed from a snapshot' '$WORK/again.err'"
pstart nosnap --no-snapshot -- sh -c 'echo again; exit 6'
pexpect nosnap "--no-snapshot boots, with the same output and status" \
	bash -c "[ $st -eq 6 ] && [ \"\$(cat '$WORK/nosnap.out')\" = again ] && ! grep -q 'resumed\|making the snapshot' '$WORK/nosnap.err'"
pstart r1 -- sh -c "$rand_cmd"
pstart r2 -- sh -c "$rand_cmd"
pexpect r2 "two containers resumed from one snapshot: /dev/urandom and boot_id differ" \
	bash -c "grep -q 'resumed' '$WORK/r1.err' && grep -q 'resumed' '$WORK/r2.err' &&
	[ \"\$(cut -d' ' -f1 '$WORK/r1.out')\" != \"\$(cut -d' ' -f1 '$WORK/r2.out')\" ] &&
	[ \"\$(cut -d' ' -f2 '$WORK/r1.out')\" != \"\$(cut -d' ' -f2 '$WORK/r2.out')\" ] &&
	[ \$(wc -w < '$WORK/r1.out') -eq 2 ]"
# Sharing: two containers resumed at once map the snapshot's pages from one
# page cache (MAP_PRIVATE); each one's private memory (smaps: what is its
# own, resident) stays well below, under half, that of a booted VM's.
# private_kib PID: Private_Clean + Private_Dirty of a process.
private_kib() { awk '/^Private_(Clean|Dirty):/ { s += $2 } END { print s + 0 }' "/proc/$1/smaps_rollup"; }
# They wait for a file the test makes in a volume, then end.
share_pids=()
mkdir -p "$WORK/share-gate"
for n in sha shb shc; do
	[ $n = shc ] && more=--no-snapshot || more=
	pstart $n $more -v "$WORK/share-gate":/gate -- \
		sh -c 'echo up; i=0; while [ ! -e /gate/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done' &
	share_pids+=($!)
done
for _ in $(seq 600); do
	[ "$(cat "$WORK"/sh[abc].out 2> /dev/null | grep -c up)" = 3 ] && break
	sleep 0.2
done
resumed_kib=() booted_kib=
for p in $(pgrep -x pupa-vmm); do
	if tr '\0' ' ' < "/proc/$p/cmdline" | grep -q -- '--restore'; then
		resumed_kib+=("$(private_kib "$p")")
	else
		booted_kib=$(private_kib "$p")
	fi
done
touch "$WORK/share-gate/go"
wait "${share_pids[@]}"
diag "private memory (KiB): resumed ${resumed_kib[*]}, booted ${booted_kib:-none}"
shared_well() {
	[ ${#resumed_kib[@]} -eq 2 ] && [ -n "$booted_kib" ] &&
		[ $(( resumed_kib[0] * 2 )) -lt "$booted_kib" ] && [ $(( resumed_kib[1] * 2 )) -lt "$booted_kib" ]
}
check "two containers resumed at once share the snapshot's pages: each one's private memory is under half a booted VM's" shared_well
pstart rw --rootfs-mode rw -i -v "$WORK/snap-vol":/data -- sh -c 'cat > /data/in.txt; touch /etc/rw-ok && echo rw; hostname' < /dev/null
pexpect rw "after a restore: --rootfs-mode rw, -i, a volume and the run's own hostname (not the snapshot's) work" \
	bash -c "[ $st -eq 0 ] && resumed rw && [ \"\$(head -1 '$WORK/rw.out')\" = rw ] && [ -e '$WORK/snap-vol/in.txt' ] &&
	sed -n 2p '$WORK/rw.out' | grep -qx '[0-9a-f]\{12\}'"
age=$(( $(date +%s) - made_at ))
[ $age -lt 10 ] && sleep $((10 - age))
pstart clock -- date +%s
host_now=$(date +%s)
pexpect clock "a snapshot 10 s old: the container's clock is the host's (within 2 s)" \
	bash -c "resumed clock && d=\$(( $host_now - \$(cat '$WORK/clock.out') )) && [ \${d#-} -le 2 ]"

# Damaged or foreign files: refused by pupa-vmm, removed, rebuilt by a boot.
f=$(snapfile)
size=$(stat -c %s "$f")
flip_bits "$f" $(( size - 200 )) 0x40
bad_sum=$(md5sum < "$f")
pstart flipped -- echo ok
pexpect flipped "a snapshot with a flipped byte: refused, rebuilt by a boot, the start succeeds" \
	bash -c "[ $st -eq 0 ] && [ \"\$(cat '$WORK/flipped.out')\" = ok ] && made flipped &&
	[ \"\$(md5sum < '$f')\" != '$bad_sum' ]"
head -c $(( size / 2 )) "$f" > "$f.cut" && mv "$f.cut" "$f"
pstart cut -- echo ok
pexpect cut "a snapshot cut short: refused, rebuilt, the start succeeds" \
	bash -c "[ $st -eq 0 ] && made cut && [ \$(stat -c %s '$f') -gt $(( size / 2 )) ]"
pstart other --memory 384 -- echo ok
other=$(ls -t "$SD"/*.snap | head -1)
cp "$other" "$f"
pstart planted -- echo ok
pexpect planted "a snapshot of another machine under this one's name: refused, rebuilt, the start succeeds" \
	bash -c "[ $st -eq 0 ] && made planted && ! cmp -s '$other' '$f' && [ \$(ls '$SD'/*.snap | wc -l) -eq 2 ]"
pstart after -- echo ok
pexpect after "... and the rebuilt one is resumed by the next start" resumed after
pexpect after "nothing left behind: no pupa-vmm, no run folder, no temporary snapshot, no lock held" \
	bash -c "! pgrep -x pupa-vmm > /dev/null && [ -z \"\$(ls -A '$WORK/snap-tmp')\" ] &&
	[ -z \"\$(ls '$SD' | grep -v '\.snap$' | grep -v '\.lock$')\" ]"
XDG_CACHE_HOME=$SC "$PUPA" prune --snapshots > "$WORK/prune.out" 2>&1
pexpect prune "pupa prune --snapshots removes the snapshots" \
	bash -c "grep -q 'and 2 snapshots' '$WORK/prune.out' && [ -z \"\$(ls -A '$SD')\" ]"
