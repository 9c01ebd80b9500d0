# The control socket: attach a disk to an empty slot while the guest runs,
# status and malformed requests, stop with the statuses in order, signals,
# AlreadyRunning, and a fresh start after SIGKILL (stale sockets).

HV=$top_builddir/tests/kvm/host-vsock
ctl=$WORK/ctl.sock

# The guest waits for a disk with serial "rootfs" and a size, then reads it.
cat > "$WORK/slot.sh" <<'T'
echo WAITING-FOR-DISK
for i in $(seq 600); do
	for b in /sys/block/vd*; do
		if [ "$(cat $b/serial 2>/dev/null)" = rootfs ] && [ "$(cat $b/size)" != 0 ]; then
			echo "RESULT size=$(cat $b/size)"
			echo "RESULT sha=$(sha256sum /dev/$(basename $b) | cut -c1-64)"
			exit 0
		fi
	done
	sleep 0.1
done
echo "RESULT error=no disk after 60 s"
exit 1
T
make_initramfs "$WORK/slot.cpio" "$WORK/slot.sh"
head -c $((3 * 1024 * 1024)) /dev/urandom > "$WORK/slot.img"
# Outside every --attach-dir: Landlock keeps pupa-vmm from opening it.
outside=$(mktemp "${TMPDIR:-/tmp}/pupa-outside.XXXXXX")
head -c 4096 /dev/zero > "$outside"
( for _ in $(seq 600); do
	grep -q WAITING-FOR-DISK "$WORK/slot.console" 2>/dev/null && break
	sleep 0.2
  done
  "$HV" ctl "$ctl" 4 '{"request":"attach","slot":"nope","path":"/x"}' \
	"{\"request\":\"attach\",\"slot\":\"rootfs\",\"path\":\"$outside\",\"mode\":\"ro\"}" \
	"{\"request\":\"attach\",\"slot\":\"rootfs\",\"path\":\"$WORK/slot.img\",\"mode\":\"ro\",\"id\":7}" \
	"{\"request\":\"attach\",\"slot\":\"rootfs\",\"path\":\"$WORK/slot.img\"}" > "$WORK/attach.out"
) & attach_pid=$!
if run_vm slot --kernel "$BZIMAGE" --initrd "$WORK/slot.cpio" --cmdline "console=ttyS0 quiet loglevel=1" \
	--disk-slot rootfs --control "$ctl" --attach-dir "$WORK"; then
	[ "$(guest_value size)" = 6144 ] &&
		[ "$(guest_value sha)" = "$(sha256sum < "$WORK/slot.img" | cut -c1-64)" ]
	check "control attach: a disk given to an empty slot appears with its size, serial and content" [ $? = 0 ]
else
	not_ok "control attach: a disk given to an empty slot appears with its size, serial and content"
fi
wait $attach_pid
grep -q '"reply":"error".*"name":"kDeviceNotPresent","value":2' "$WORK/attach.out" &&
	grep -q '"reply":"attach".*"id":7' "$WORK/attach.out" &&
	grep -q '"name":"kAlreadyRunning"' "$WORK/attach.out"
attach_ok=$?
check "control attach: unknown slot is DeviceNotPresent, a filled slot AlreadyRunning, ids echoed" [ $attach_ok = 0 ]
grep -q "\"reply\":\"error\".*disk $outside: Permission denied" "$WORK/attach.out"
check "Landlock: a file outside --attach-dir cannot be attached by path (Permission denied)" [ $? = 0 ]
rm -f "$outside"
[ $attach_ok = 0 ] || sed 's/^/#   /' "$WORK/attach.out"

# A guest that never ends: stopped over the control socket.
printf 'echo SLEEPING\nsleep 1000\n' > "$WORK/sleep.sh"
make_initramfs "$WORK/sleep.cpio" "$WORK/sleep.sh"
start_sleeper() {	# NAME [extra args]: pupa-vmm in the background, waits for the guest
	local name=$1
	shift
	"$VMM" --kernel "$BZIMAGE" --initrd "$WORK/sleep.cpio" --cmdline "console=ttyS0 quiet loglevel=1" \
		--serial "$WORK/$name.console" "$@" 2> "$WORK/$name.stderr" &
	vmm_pid=$!
	for _ in $(seq 600); do
		grep -q SLEEPING "$WORK/$name.console" 2>/dev/null && return 0
		kill -0 $vmm_pid 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}

# Under umask 000 too, the sockets are the owner's alone.
saved_umask=$(umask)
umask 000
start_sleeper stop --control "$ctl" --vsock-cid 3 --vsock-uds "$WORK/v2.sock"
started=$?
umask "$saved_umask"
if [ $started = 0 ]; then
	modes="$(stat -c %a "$ctl") $(stat -c %a "$WORK/v2.sock")"
	check "control and vsock sockets are 0600 under umask 000 (saw: $modes)" [ "$modes" = "600 600" ]
	# Garbage first: each line gets an error and the VMM keeps serving.
	long=$(head -c 10000 /dev/zero | tr '\0' x)
	"$HV" ctl "$ctl" 4 'not json' '[1,2]' "$long" '{"request":"status"}' > "$WORK/bad.out"
	[ "$(grep -c '"reply":"error"' "$WORK/bad.out")" = 3 ] &&
		grep -q '"reply":"status".*"name":"kRunning","value":3' "$WORK/bad.out"
	check "control: malformed, non-object and oversized lines get errors; the VMM still answers" [ $? = 0 ]
	"$VMM" --kernel "$BZIMAGE" --control "$ctl" --serial none 2> "$WORK/second.stderr"
	second=$?
	[ $second = 14 ] && grep -q 'AlreadyRunning' "$WORK/second.stderr"
	check "control: a second VMM on a live control socket fails with AlreadyRunning (14)" [ $? = 0 ]
	"$HV" ctl "$ctl" 20 '{"request":"stop","timeout_ms":500}' > "$WORK/stop.out"
	wait $vmm_pid
	status=$?
	statuses=$(grep -o '"event":"status","status":{[^}]*"name":"k[A-Za-z]*"' "$WORK/stop.out" |
		   sed 's/.*"name":"k\([A-Za-z]*\)"/\1/' | tr '\n' ' ')
	[ $status = 15 ] && [ "$statuses" = "Stopping Stopped " ] &&
		grep -q '"event":"exit".*"reason":{"type":"GuestError","name":"kControllerForcedHalt","value":15}' "$WORK/stop.out"
	check "control stop: Stopping, Stopped, then exit with ControllerForcedHalt; pupa-vmm exits 15 (saw: $statuses)" [ $? = 0 ]
	[ ! -e "$ctl" ] && [ ! -e "$WORK/v2.sock" ]
	check "control stop: the control and vsock sockets are removed" [ $? = 0 ]
else
	not_ok "control: the sleeping guest did not start: $(cat "$WORK/stop.stderr")"
fi

# SIGTERM stops the VM cleanly; SIGKILL leaves stale sockets a new VMM replaces.
if start_sleeper term --control "$ctl"; then
	kill -TERM $vmm_pid
	wait $vmm_pid
	status=$?
	[ $status = 15 ] && grep -q 'stopped by signal .*(ControllerForcedHalt, GuestError 15)' "$WORK/term.stderr" &&
		[ ! -e "$ctl" ]
	check "SIGTERM: the VMM stops with ControllerForcedHalt (15) and removes its socket" [ $? = 0 ]
else
	not_ok "SIGTERM: the sleeping guest did not start"
fi
if start_sleeper kill --control "$ctl" --vsock-cid 3 --vsock-uds "$WORK/v3.sock"; then
	kill -KILL $vmm_pid
	wait $vmm_pid 2>/dev/null
	if [ -S "$ctl" ] && start_sleeper again --control "$ctl" --vsock-cid 3 --vsock-uds "$WORK/v3.sock"; then
		"$HV" ctl "$ctl" 1 '{"request":"status"}' > "$WORK/again.out"
		kill -TERM $vmm_pid
		wait $vmm_pid
		check "SIGKILL, then a fresh start on the same sockets works" grep -q kRunning "$WORK/again.out"
	else
		not_ok "SIGKILL, then a fresh start on the same sockets works ($(cat "$WORK/again.stderr" 2>/dev/null))"
	fi
else
	not_ok "SIGKILL, then a fresh start: the sleeping guest did not start"
fi

# seccomp: every thread of the shipped pupa-vmm is filtered, and the filter
# bites (a test build's hook makes a thread call getppid, which no filter
# allows: the VMM dies of SIGSYS, saying which call).
if start_sleeper seccomp --control "$ctl" --cpus 2 --vsock-cid 3 --vsock-uds "$WORK/v4.sock"; then
	modes=$(cat /proc/$vmm_pid/task/*/status | sed -n 's/^Seccomp:[[:space:]]*//p' | sort | uniq -c | tr -s ' ' | tr '\n' ';')
	nnp=$(sed -n 's/^NoNewPrivs:[[:space:]]*//p' /proc/$vmm_pid/status)
	threads=$(ls /proc/$vmm_pid/task | wc -l)
	[ "$modes" = " $threads 2;" ] && [ "$nnp" = 1 ] && [ "$threads" -ge 3 ]
	check "seccomp: all $threads threads of pupa-vmm filtered (Seccomp: $modes NoNewPrivs: $nnp)" [ $? = 0 ]
	kill -TERM $vmm_pid
	wait $vmm_pid
else
	not_ok "seccomp: the sleeping guest did not start ($(cat "$WORK/seccomp.stderr"))"
fi
for thread in vcpu main; do
	case $thread in vcpu) where="a vCPU thread" ;; main) where="the main thread" ;; esac
	if VMM=$top_builddir/tests/kvm/pupa-vmm-hooks start_sleeper "hook-$thread" --control "$ctl"; then
		"$HV" ctl "$ctl" 1 "{\"request\":\"test-syscall\",\"thread\":\"$thread\"}" > /dev/null 2>&1
		wait $vmm_pid
		status=$?
		[ $status = $((128 + 31)) ] &&
			grep -q "seccomp: forbidden system call 110 on $where" "$WORK/hook-$thread.stderr"
		check "seccomp: a $thread thread's forbidden call kills pupa-vmm with SIGSYS, naming the call and $where (status $status)" [ $? = 0 ]
	else
		not_ok "seccomp: the test build's guest did not start ($(cat "$WORK/hook-$thread.stderr"))"
	fi
	rm -f "$ctl"
done
