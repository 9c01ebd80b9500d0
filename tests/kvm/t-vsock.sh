# virtio-vsock: data each way with matching SHA-256, and 16 connections at
# once with one reader stalled while the other 15 complete.

mb=${PUPA_TEST_DATA_MB:-16}
uds=$WORK/vsock.sock
cat > "$WORK/vsock.sh" <<T
head -c \$(( $mb * 1024 * 1024 )) /dev/urandom > /tmp/up
echo "RESULT up=\$(sha256sum /tmp/up | cut -c1-64)"
guest-vsock connect 5000 < /tmp/up > /dev/null && echo "RESULT up_sent=yes"
rm /tmp/up
guest-vsock listen 5001 < /dev/null > /tmp/down && echo "RESULT down_done=yes"
echo "RESULT down=\$(sha256sum /tmp/down | cut -c1-64)"
rm /tmp/down
guest-vsock multi 6000 16 $((2 * 1024 * 1024))
T
make_initramfs "$WORK/vsock.cpio" "$WORK/vsock.sh" \
	"file /bin/guest-vsock $top_builddir/tests/kvm/guest-vsock 0755 0 0"
head -c $((mb * 1024 * 1024)) /dev/urandom > "$WORK/down.in"
HV=$top_builddir/tests/kvm/host-vsock

"$HV" sink "${uds}_5000" "$WORK/up.out" & sink_pid=$!
"$HV" stall "${uds}_6000" 16 > "$WORK/stall.out" & stall_pid=$!
# The host connects once the guest listens.
( for _ in $(seq 600); do
	grep -q 'LISTENING 5001' "$WORK/vsock.console" 2>/dev/null && break
	sleep 0.2
  done
  "$HV" send "$uds" 5001 "$WORK/down.in" ) & send_pid=$!

if run_vm vsock --kernel "$BZIMAGE" --initrd "$WORK/vsock.cpio" --memory $((mb * 3 + 128)) \
	--cmdline "console=ttyS0 quiet loglevel=1" --vsock-cid 3 --vsock-uds "$uds"; then
	[ "$(guest_value up_sent)" = yes ] && [ -f "$WORK/up.out" ] &&
		[ "$(sha256sum < "$WORK/up.out" | cut -c1-64)" = "$(guest_value up)" ]
	check "vsock guest->host: $mb MiB arrive with matching SHA-256" [ $? = 0 ]
	[ "$(guest_value down_done)" = yes ] &&
		[ "$(sha256sum < "$WORK/down.in" | cut -c1-64)" = "$(guest_value down)" ]
	check "vsock host->guest (CONNECT/OK): $mb MiB arrive with matching SHA-256" [ $? = 0 ]
	check "vsock: 16 connections at once, one reader stalled, the other 15 complete" \
		[ "$(guest_value completed)" = 15 ]
else
	not_ok "vsock guest->host: $mb MiB arrive with matching SHA-256"
	not_ok "vsock host->guest (CONNECT/OK): $mb MiB arrive with matching SHA-256"
	not_ok "vsock: 16 connections at once, one reader stalled, the other 15 complete"
fi
kill $sink_pid $stall_pid $send_pid 2>/dev/null
wait $sink_pid $stall_pid $send_pid 2>/dev/null
check "vsock: pupa-vmm removed its socket at exit" [ ! -e "$uds" ]
