# bench/fs.sh: the volume rows of make bench, sourced by bench/boot.sh
# (its note, $other_runs runs) where /dev/kvm works. One host folder on
# tmpfs, shared with the guest by pupa-vmm's virtio-fs (pupa start -v) and
# by QEMU's 9p (-fsdev local, virtio-9p-device on microvm), same kernel,
# 512 MiB of guest RAM; the same guest script does, RUNS times in one VM:
#   fs-write-*   MiB/s, dd of 256 MiB of zeros, conv=fsync
#   fs-read-*    MiB/s, dd of that file after dropping the guest's caches
#   fs-tar-*     seconds, tar -x of the minbase tree (its .tar, already in
#                the folder) into the folder, then sync; once per VM.
#                Under nested emulation (PUPA_BENCH_FS_TREE=part, set by
#                bench/run.sh there) only its etc and usr/bin: there 9p
#                took 15 minutes for etc, usr/bin and usr/lib (1732
#                entries), pupa-vmm 46 s.
# timed in the guest from /proc/uptime (10 ms steps).
# Modes, as stated in docs/benchmarks.md: pupa-vmm: the guest's page cache
# on for reads (write-only opens bypass it), attributes and names cached
# 1 s, no writeback cache, no DAX, 1 MiB requests;
# security: every access beneath the folder's descriptor (openat2), files
# created as the user, owners shown as the container's. QEMU 9p: the
# kernel's default cache mode (none), msize 512 KiB, security_model=none.
# No C virtiofsd here: QEMU 10 no longer ships it and Debian 12 has no
# package, so that column is not measured.
runs=$other_runs
work=${TMPDIR:-/tmp}/pupa-bench-fs
share=$work/share
mb=256
rm -rf "$work"
mkdir -p "$share"
tree=${PUPA_BENCH_FS_TREE:-full}
if [ "$tree" = part ] && [ -d "$(dirname "$MINBASE")/rootfs/usr/lib" ]; then
	tar -C "$(dirname "$MINBASE")/rootfs" -cf "$share/tree.tar" etc usr/bin
elif [ "$tree" = full ] && [ -r "${MINBASE%.gz}" ]; then
	cp "${MINBASE%.gz}" "$share/tree.tar"
elif [ "$tree" = full ] && [ -r "$MINBASE" ]; then
	gzip -dc "$MINBASE" > "$share/tree.tar"
else
	echo "bench: $MINBASE or its rootfs is missing (make bench builds them with debootstrap)" >&2
	exit 1
fi
note fs-tree-entries "$(tar -tf "$share/tree.tar" | wc -l)"
note fs-tree-mib "$(( $(stat -c %s "$share/tree.tar") >> 20 ))"

# The guest's side: MNT is where the folder is.
cat > "$work/guest.sh" <<-'GUEST'
up() { cut -d' ' -f1 /proc/uptime; }
for i in $(seq "$RUNS"); do
	t0=$(up)
	dd if=/dev/zero of="$MNT/big" bs=1M count="$MB" conv=fsync 2> /dev/null || echo "fs-error write"
	t1=$(up)
	sync
	echo 3 > /proc/sys/vm/drop_caches
	t2=$(up)
	dd if="$MNT/big" of=/dev/null bs=1M 2> /dev/null || echo "fs-error read"
	t3=$(up)
	rm -f "$MNT/big"
	echo "fs-result $t0 $t1 $t2 $t3"
done
mkdir "$MNT/x"
t0=$(up)
tar -xf "$MNT/tree.tar" -C "$MNT/x" 2> /dev/null || echo "fs-error tar"
sync
t1=$(up)
rm -rf "$MNT/x"
echo "fs-tar $t0 $t1"
echo fs-done
GUEST

# rows NAME LOG: the rows of one side from its guest's fs-result lines.
fs_rows() {
	grep -q '^fs-error' "$2" && { echo "bench: $1: $(grep '^fs-error' "$2" | head -1)" >&2; return 1; }
	[ "$(grep -c '^fs-result' "$2")" -eq "$runs" ] || { echo "bench: $1: $(grep -c '^fs-result' "$2") results, not $runs" >&2; return 1; }
	grep -q '^fs-tar' "$2" || { echo "bench: $1: no tar result" >&2; return 1; }
	tr -d '\r' < "$2" | awk -v n="$1" -v mb="$mb" '
		$1 == "fs-result" { printf "fs-write-%s %.1f\nfs-read-%s %.1f\n", n, mb / ($3 - $2), n, mb / ($5 - $4) }
		$1 == "fs-tar" { printf "fs-tar-%s %.2f\n", n, $3 - $2 }' > "$work/rows"
	while read -r row value; do note "$row" "$value"; done < "$work/rows"
}

# --- pupa: the default image, the folder as a volume ------------------------------------
export XDG_CACHE_HOME=${TMPDIR:-/tmp}/pupa-bench-warm
"$pupa" start -q -v "$share":/mnt -v "$work":/bench:ro -- \
	env RUNS="$runs" MB="$mb" MNT=/mnt sh /bench/guest.sh > "$work/pupa.log" 2> "$work/pupa.err" < /dev/null ||
	{ echo "bench: pupa: $(tail -3 "$work/pupa.err" | tr '\n' ' ')" >&2; exit 1; }
fs_rows pupa "$work/pupa.log"

# --- QEMU: a busybox initramfs, the folder over 9p ----------------------------------------
cat > "$work/init" <<-INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
mkdir -p /mnt
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 share /mnt
RUNS=$runs MB=$mb MNT=/mnt sh /guest.sh
reboot -f
INIT
printf '%s\n' "dir /bin 0755 0 0" "dir /dev 0755 0 0" "dir /proc 0755 0 0" "dir /sys 0755 0 0" \
	"nod /dev/console 0600 0 0 c 5 1" "file /bin/busybox ${PUPA_BUSYBOX:-/bin/busybox} 0755 0 0" \
	"file /guest.sh $work/guest.sh 0644 0 0" "file /init $work/init 0755 0 0" > "$work/qemu.list"
"$top_builddir/images/mkcpio" -o "$work/qemu.cpio" "$work/qemu.list"
# QEMU writes its guest's lines to a file: say every 30 s that it still
# runs, or the test host's runner takes two silent minutes (9p's tar -x
# under nesting) for a frozen host.
( while sleep 30; do echo "bench: fs: QEMU 9p side running, $(grep -c '^fs-' "$work/qemu.log" 2> /dev/null) results so far"; done ) &
fs_ticker=$!
timeout 1200 qemu-system-x86_64 -M microvm,acpi=off -enable-kvm -cpu host -m 512 -smp 1 \
	-nodefaults -no-user-config -nographic -no-reboot -serial "file:$work/qemu.log" \
	-kernel "$top_builddir/images/kernel/bzImage" -initrd "$work/qemu.cpio" \
	-append "console=ttyS0 quiet loglevel=1 reboot=t panic=-1" \
	-fsdev "local,id=fs0,path=$share,security_model=none" \
	-device virtio-9p-device,fsdev=fs0,mount_tag=share < /dev/null ||
	{ echo "bench: QEMU 9p: exit $?" >&2; kill $fs_ticker; exit 1; }
kill $fs_ticker
fs_rows 9p "$work/qemu.log"
rm -rf "$work"
