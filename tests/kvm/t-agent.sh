# pupa-init, the guest agent: a busybox root filesystem attached as a disk
# after boot, commands run through the agent protocol with stdio on vsock.

INITRD=$top_builddir/images/initramfs.cpio
AH=$top_builddir/tests/kvm/agent-host

# The root filesystem: busybox, users and groups, a file that is not executable.
root=$WORK/rootfs
mkdir -p "$root/bin" "$root/etc" "$root/root" "$root/home/tester" "$root/tmp" "$root/proc" \
	"$root/sys" "$root/dev"
cp "$BUSYBOX" "$root/bin/busybox"
for a in $("$BUSYBOX" --list); do [ "$a" = busybox ] || ln -s busybox "$root/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\ntester:x:1000:1000:Tester:/home/tester:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\ntester:x:1000:\nextra:x:2000:tester\n' > "$root/etc/group"
printf 'placeholder\n' > "$root/etc/hostname"
printf '127.0.0.1 localhost\n' > "$root/etc/hosts"
: > "$root/etc/resolv.conf"
printf '#!/bin/sh\necho never\n' > "$root/bin/notexec"
chmod 644 "$root/bin/notexec"
chown 1000:1000 "$root/home/tester"
mke2fs -q -t ext4 -d "$root" -F "$WORK/root.ext4" 32M
root_sha=$(sha256sum < "$WORK/root.ext4")

# run_agent NAME [agent-host options] -- COMMAND...: boot pupa-vmm with the
# initramfs, let agent-host attach the disk and run COMMAND. Sets
# agent_status and leaves NAME.out, NAME.err; returns 1 if the VMM failed.
# vmm_net=1: the VM has a network device (pupa-vmm --net slirp, in a
# network namespace with only lo, so nothing can leave).
run_agent() {
	local name=$1 vmm_pid vmm_status
	local net=() wrap=()
	shift
	[ -n "${vmm_net:-}" ] && { net=(--net slirp); wrap=(unshare -n); }
	vm_console=$WORK/$name.console
	"${wrap[@]}" "$VMM" "${net[@]}" --kernel "$BZIMAGE" --initrd "$INITRD" --cmdline "console=ttyS0 quiet loglevel=1" --memory 256 \
		--vsock-cid 3 --vsock-uds "$WORK/$name.vsock" --boot-prop agent-port=1024 \
		--boot-prop hostname=pupabox --boot-prop version=1 --disk-slot rootfs \
		--control "$WORK/$name.ctl" --serial "$vm_console" 2> "$WORK/$name.vmm" &
	vmm_pid=$!
	for _ in $(seq 100); do [ -S "$WORK/$name.ctl" ] && break; sleep 0.05; done
	timeout -k 5 "$VM_TIMEOUT" "$AH" --uds "$WORK/$name.vsock" --port 1024 --serial rootfs \
		--control "$WORK/$name.ctl" --image "$WORK/root.ext4" "$@" \
		< "${agent_stdin:-/dev/null}" > "$WORK/$name.out" 2> "$WORK/$name.err"
	agent_status=$?
	( sleep "$VM_TIMEOUT"; kill $vmm_pid 2>/dev/null ) & local guard=$!
	wait $vmm_pid
	vmm_status=$?
	kill $guard 2>/dev/null
	sed -i 's/\r$//' "$vm_console"
	if grep -q 'Kernel panic - not syncing' "$vm_console" || [ $vmm_status != 0 ]; then
		diag "$name: pupa-vmm exited $vmm_status: $(cat "$WORK/$name.vmm")"
		show_console 15
		return 1
	fi
	return 0
}

run_agent basic -- sh -c 'echo out; echo err >&2; exit 7'
[ $agent_status = 7 ] && [ "$(cat "$WORK/basic.out")" = out ] &&
	[ "$(grep -v '^agent-host:' "$WORK/basic.err")" = err ]
check "agent: stdout and stderr apart, exit status 7, the VM reboots cleanly" [ $? = 0 ]
[ $agent_status = 7 ] || sed 's/^/#   /' "$WORK/basic.err"
diag "agent: $(grep -o 'HELLO after [0-9]* ms' "$WORK/basic.err") from pupa-vmm's start (test host)"

run_agent signal -- sh -c 'kill -TERM $$; sleep 5'
check "agent: a process killed by SIGTERM reports 143" [ $agent_status = 143 ]

head -c $((${PUPA_TEST_DATA_MB:-16} * 1024 * 1024)) /dev/urandom > "$WORK/stdin.data"
agent_stdin=$WORK/stdin.data run_agent stdin -- cat
[ $agent_status = 0 ] && [ "$(sha256sum < "$WORK/stdin.out")" = "$(sha256sum < "$WORK/stdin.data")" ]
check "agent: ${PUPA_TEST_DATA_MB:-16} MiB of stdin through cat come back with matching SHA-256" [ $? = 0 ]

run_agent who --env FOO=bar --cwd /tmp/work --user tester --hostname boxy -- \
	sh -c 'echo "$FOO $(pwd) $(id -u):$(id -g) $(hostname) $HOME $PATH"; id -G'
[ $agent_status = 0 ] &&
	[ "$(head -1 "$WORK/who.out")" = "bar /tmp/work 1000:1000 boxy /home/tester /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" ] &&
	[ "$(sed -n 2p "$WORK/who.out")" = "1000 2000" ]
check "agent: env, cwd (created), user by name with its groups, hostname, HOME and PATH" [ $? = 0 ]
[ $? = 0 ] || sed 's/^/#   /' "$WORK/who.out" "$WORK/who.err"

run_agent uid --user 4242:2000 -- sh -c 'echo "$(id -u):$(id -g) $HOME"'
check "agent: user by number without a passwd entry" [ "$(cat "$WORK/uid.out")" = "4242:2000 /" ]

run_agent orphans -- sh -c 'sh -c "sleep 0.3 &"; sleep 1.5; ps -o stat,comm | grep -c "^Z" || true'
check "agent: orphans are reaped (no zombies after a double fork)" [ "$(cat "$WORK/orphans.out")" = 0 ]

run_agent notfound -- no-such-command
[ $agent_status = 127 ] && grep -q 'executable file not found' "$WORK/notfound.err"
check "agent: command not found exits 127 with Docker's message (got $agent_status)" [ $? = 0 ]
run_agent notexec -- /bin/notexec
check "agent: a file that is not executable exits 126 (got $agent_status)" [ $agent_status = 126 ]

# pupa-init moves eth0 into the container's namespace at boot (so that it
# is in the snapshot); a START without network settings sends it back.
vmm_net=1 run_agent nonet -- sh -c 'ls /sys/class/net'
check "agent: a VM with eth0 and a START without a network: the container has lo only" \
	[ "$agent_status:$(tr '\n' ' ' < "$WORK/nonet.out")" = "0:lo " ]
[ "$agent_status" = 0 ] || sed 's/^/#   /' "$WORK/nonet.err"

run_agent tty --tty -- sh -c 'tty; stty size'
sed -i 's/\r$//' "$WORK/tty.out"
[ $agent_status = 0 ] && grep -q '^/dev/pts/0$' "$WORK/tty.out" && grep -q '^24 80$' "$WORK/tty.out"
check "agent: --tty gives a pty with a window size" [ $? = 0 ]

# The image is the test's overlay lower layer: never written.
run_agent writes -- sh -c 'echo changed > /etc/hostname; rm /bin/notexec; cat /etc/hostname'
[ $agent_status = 0 ] && [ "$(cat "$WORK/writes.out")" = changed ] &&
	[ "$(sha256sum < "$WORK/root.ext4")" = "$root_sha" ]
check "agent: writes land in the overlay; the image file is unchanged" [ $? = 0 ]

# The VMM dies under a running process: no EXIT, and the console says what it last showed.
run_agent killed --console "$WORK/killed.console" -- sh -c 'echo RUNNING > /dev/console; sleep 60' &
runner=$!
for _ in $(seq 300); do grep -q RUNNING "$WORK/killed.console" 2>/dev/null && break; sleep 0.2; done
pkill -KILL -f -- "--vsock-uds $WORK/killed.vsock"
wait $runner
grep -q 'went away without EXIT' "$WORK/killed.err" && grep -q 'RUNNING' "$WORK/killed.err"
check "agent: a VMM that ends without EXIT is reported with the console's last lines" [ $? = 0 ]

# A disk that holds no filesystem: the mount error comes back from the agent.
truncate -s 8M "$WORK/blank.img"
"$VMM" --kernel "$BZIMAGE" --initrd "$INITRD" --cmdline "console=ttyS0 quiet loglevel=1" --memory 256 \
	--vsock-cid 3 --vsock-uds "$WORK/blank.vsock" --boot-prop agent-port=1024 \
	--disk "$WORK/blank.img,ro,serial=rootfs" --serial "$WORK/blank.console" 2>/dev/null & vmm_pid=$!
timeout 60 "$AH" --uds "$WORK/blank.vsock" --port 1024 --serial rootfs -- true 2> "$WORK/blank.err"
st=$?
wait $vmm_pid
[ $st = 125 ] && grep -q "agent error: mount /dev/vd.* (ext4) on .*: Invalid argument" "$WORK/blank.err"
check "agent: a disk without a filesystem fails with the agent's mount error" [ $? = 0 ]
[ $st = 125 ] || sed 's/^/#   /' "$WORK/blank.err"

# No disk: the agent answers with its own message, and the VM still ends.
"$VMM" --kernel "$BZIMAGE" --initrd "$INITRD" --cmdline "console=ttyS0 quiet loglevel=1" --memory 256 \
	--vsock-cid 3 --vsock-uds "$WORK/nodisk.vsock" --boot-prop agent-port=1024 \
	--serial "$WORK/nodisk.console" 2>/dev/null & vmm_pid=$!
timeout 60 "$AH" --uds "$WORK/nodisk.vsock" --port 1024 --serial rootfs -- true 2> "$WORK/nodisk.err"
st=$?
wait $vmm_pid
[ $st = 125 ] && grep -q "agent error: no disk with serial 'rootfs' appeared" "$WORK/nodisk.err"
check "agent: a missing disk fails with the agent's message" [ $? = 0 ]
