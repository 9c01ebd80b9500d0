# virtio-blk in its three modes, GET_ID, and virtio-console as hvc0.
# Data sizes follow the environment: PUPA_TEST_DATA_MB (16 in the test
# host, 64 on native KVM).

mb=${PUPA_TEST_DATA_MB:-16}
sha() { sha256sum "$1" | cut -c1-64; }

# The guest writes $mb MiB of random data to the disk named "data" with
# O_DIRECT, reads it back with O_DIRECT, and reports both digests.
cat > "$WORK/disk-write.sh" <<T
dev=
for b in /sys/block/vd*; do
	[ "\$(cat \$b/serial 2>/dev/null)" = data ] && dev=/dev/\$(basename \$b)
done
[ -b "\$dev" ] || { echo "RESULT error=no disk with serial data"; exit 1; }
echo "RESULT ro=\$(cat /sys/block/\$(basename \$dev)/ro)"
echo "RESULT size=\$(cat /sys/block/\$(basename \$dev)/size)"
head -c \$(( $mb * 1024 * 1024 )) /dev/urandom > /tmp/data
echo "RESULT wrote=\$(sha256sum /tmp/data | cut -c1-64)"
blockdev --setrw \$dev 2>/dev/null
if dd if=/tmp/data of=\$dev bs=1M oflag=direct 2>/tmp/dd.err; then echo "RESULT write=ok"
else echo "RESULT write=failed"; fi
echo 3 > /proc/sys/vm/drop_caches
echo "RESULT readback=\$(dd if=\$dev bs=1M count=$mb iflag=direct 2>/dev/null | sha256sum | cut -c1-64)"
T
make_initramfs "$WORK/disk.cpio" "$WORK/disk-write.sh"
disk_vm() { run_vm "$1" --kernel "$BZIMAGE" --initrd "$WORK/disk.cpio" --memory $((mb * 3 + 128)) \
	--cmdline "console=ttyS0 quiet loglevel=1" --disk "$2,serial=data"; }

truncate -s $((mb * 2))M "$WORK/rw.img"
if disk_vm disk-rw "$WORK/rw.img,rw"; then
	wrote=$(guest_value wrote)
	host=$(head -c $((mb * 1024 * 1024)) "$WORK/rw.img" | sha256sum | cut -c1-64)
	[ "$(guest_value write)" = ok ] && [ -n "$wrote" ] && [ "$wrote" = "$host" ]
	check "rw disk: $mb MiB written with O_DIRECT are on the host file byte for byte" [ $? = 0 ]
	check "rw disk: the guest finds it by serial and sees the file's size ($((mb * 2)) MiB)" \
		[ "$(guest_value size)" = $((mb * 2 * 2048)) ]
else
	not_ok "rw disk: $mb MiB written with O_DIRECT are on the host file byte for byte"
	not_ok "rw disk: the guest sees the file's size and serial"
fi

head -c $((mb * 1024 * 1024)) /dev/urandom > "$WORK/ro.img"
before=$(sha "$WORK/ro.img")
if disk_vm disk-ro "$WORK/ro.img,ro"; then
	[ "$(guest_value ro)" = 1 ] && [ "$(guest_value write)" = failed ] &&
		[ "$(sha "$WORK/ro.img")" = "$before" ] && [ "$(guest_value readback)" = "$before" ]
	check "ro disk: read-only in the guest, writes refused by the VMM, file unchanged" [ $? = 0 ]
else
	not_ok "ro disk: read-only in the guest, writes refused by the VMM, file unchanged"
fi

head -c $((mb * 1024 * 1024)) /dev/urandom > "$WORK/vol.img"
before=$(sha "$WORK/vol.img")
if disk_vm disk-volatile "$WORK/vol.img,volatile"; then
	[ "$(guest_value write)" = ok ] && [ "$(guest_value readback)" = "$(guest_value wrote)" ] &&
		[ "$(sha "$WORK/vol.img")" = "$before" ]
	check "volatile disk: the guest reads its own O_DIRECT writes; the file stays byte-identical" [ $? = 0 ]
else
	not_ok "volatile disk: the guest reads its own O_DIRECT writes; the file stays byte-identical"
fi

# hvc0: the whole boot on the virtio console, into the same log.
if run_vm hvc --kernel "$BZIMAGE" --initrd "$WORK/marker.cpio" --cmdline "console=hvc0"; then
	check "virtio-console: with console=hvc0 the guest's output reaches the console log" \
		grep -q 'Run /init as init process' "$vm_console"
else
	not_ok "virtio-console: with console=hvc0 the guest's output reaches the console log"
fi

# A guest that floods its console: the log keeps the head and the tail
# (8 KiB each here, PUPA_VMM_CONSOLE_KEEP) with a marker between them, and
# stays bounded. Through the UART: its output is written out before the
# guest reboots, where hvc0's tty buffer is not.
printf 'seq 1 8000\necho FLOOD-END\n' > "$WORK/flood.sh"
make_initramfs "$WORK/flood.cpio" "$WORK/flood.sh"
if PUPA_VMM_CONSOLE_KEEP=8192 run_vm flood --kernel "$BZIMAGE" --initrd "$WORK/flood.cpio" \
	--cmdline "console=ttyS0 quiet"; then
	size=$(stat -c %s "$vm_console")
	[ "$size" -le $((3 * 8192 + 53)) ] && grep -q 'bytes dropped here]' "$vm_console" &&
		grep -q '^PUPA-GUEST-BEGIN' "$vm_console" && grep -q '^1$' "$vm_console" &&
		grep -q '^8000$' "$vm_console" && grep -q '^FLOOD-END' "$vm_console" &&
		! grep -q '^4000$' "$vm_console"
	check "a guest writing 38 KB to its console: the log keeps head and tail, $size bytes" [ $? = 0 ]
else
	not_ok "a guest writing 38 KB to its console: the VM did not finish cleanly"
fi
