# Volumes (-v, --mount) over virtio-fs, run by an ordinary user in the kvm
# group so ownership is really exercised: a round trip of every kind of
# change, :ro, the container user as owner, symlinks that point outside,
# an edit on the host seen while the container runs, and a metadata
# workload (tar -x, cp -a, rm -rf) checked against the same on the host.
# The volumes live on tmpfs ($WORK), never on the test host's 9p share.

PUPA=$top_builddir/container/pupa
VU=4242
vol_kvm_gid=$(stat -c %g /dev/kvm)
[ "$vol_kvm_gid" -eq 0 ] && { chgrp 999 /dev/kvm; vol_kvm_gid=999; }
chmod 660 /dev/kvm
VH=$WORK/volhome
VT=$WORK/voltree
vlimit=
mkdir -p "$VH/cache" "$VH/tmp" "$VT/vol"
chmod 755 "$WORK"

# vstart NAME ARGS...: pupa start as uid 4242; NAME.out, NAME.err; sets st.
vstart() {
	local name=$1
	shift
	# $vlimit: a command to run it under (prlimit), or nothing.
	timeout -k 5 180 $vlimit setpriv --reuid $VU --regid $VU --groups "$vol_kvm_gid" env HOME="$VH" \
		XDG_CACHE_HOME="$VH/cache" TMPDIR="$VH/tmp" \
		"$PUPA" start -q "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" < /dev/null
	st=$?
}
vshow() { sed 's/^/#   | /' "$WORK/$1.out" "$WORK/$1.err" | tail -n 20; }
vexpect() {
	local name=$1 desc=$2
	shift 2
	if "$@"; then ok "$desc"; else not_ok "$desc"; diag "status $st"; vshow "$name"; fi
}
# owner FILE: uid:gid on the host
owner() { stat -c %u:%g "$1"; }
# A listing that changes when any name, size, mode, link target or content does.
tree_sum() {
	(cd "$1" && find . -printf '%p %y %s %m %l\n' | LC_ALL=C sort &&
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) | sha256sum
}
export -f owner tree_sum	# the checks below run them in bash -c

V=$VT/vol
trip="TRIPWIRE-$$-$RANDOM"
echo "$trip" > "$VT/tripwire"
echo "from the host" > "$V/hello"
echo a > "$V/appendme"
echo r > "$V/renameme"
echo l > "$V/linkme"
echo c > "$V/chmodme"
chmod 644 "$V/chmodme"
echo 0123456789 > "$V/truncme"
echo d > "$V/deleteme"
ln -s "$VT/tripwire" "$V/abs"
ln -s ../tripwire "$V/rel"
chown -R $VU:$VU "$VH" "$VT"

# --- the round trip -----------------------------------------------------------------------------
vstart vrt -v "$V":/data -- sh -c '
	cat /data/hello
	echo "inside $(stat -c %u:%g /data/hello)"
	echo created > /data/new
	echo b >> /data/appendme
	mv /data/renameme /data/renamed
	ln /data/linkme /data/linked
	ln -s hello /data/sym
	chmod 600 /data/chmodme
	truncate -s 4 /data/truncme
	rm /data/deleteme
	mkdir -p /data/dir/sub && echo deep > /data/dir/sub/f
	echo "abs $(readlink /data/abs) rel $(readlink /data/rel)"
	cat /data/abs /data/rel 2>&1
	chown 123:456 /data/new && echo "chown ok $(stat -c %u:%g /data/new)"
	dev=$(stat -c %d /data)
	bdi=$(( (dev >> 8) & 0xfff )):$(( (dev & 0xff) | ((dev >> 12) & 0xfff00) ))
	echo "readahead $(cat /sys/class/bdi/$bdi/read_ahead_kb)"'
vexpect vrt "volumes: the container reads the host's file, as uid 4242 on the host" \
	grep -qx "from the host" "$WORK/vrt.out"
vexpect vrt "... every file shows the container's user (root) as its owner" \
	grep -qx "inside 0:0" "$WORK/vrt.out"
vexpect vrt "... create, append, rename, hard link, symlink, chmod, truncate, delete, mkdir: the host sees each" \
	bash -c "[ \"\$(cat '$V/new')\" = created ] && [ \"\$(cat '$V/appendme')\" = 'a
b' ] && [ ! -e '$V/renameme' ] && [ \"\$(cat '$V/renamed')\" = r ] &&
	[ \"\$(stat -c %i '$V/linkme')\" = \"\$(stat -c %i '$V/linked')\" ] &&
	[ \"\$(readlink '$V/sym')\" = hello ] && [ \"\$(stat -c %a '$V/chmodme')\" = 600 ] &&
	[ \"\$(cat '$V/truncme')\" = 0123 ] && [ ! -e '$V/deleteme' ] && [ \"\$(cat '$V/dir/sub/f')\" = deep ]"
vexpect vrt "... what the container made belongs to the invoking user (4242) on the host" \
	bash -c "[ \"\$(owner '$V/new')\" = $VU:$VU ] && [ \"\$(owner '$V/dir/sub/f')\" = $VU:$VU ] &&
	[ \"\$(owner '$V/sym')\" = $VU:$VU ]"
vexpect vrt "... the volume reads ahead 1 MiB, one request of the server's largest (FUSE starts at 128 KiB)" \
	grep -qx "readahead 1024" "$WORK/vrt.out"
vexpect vrt "... chown inside succeeds and changes nothing on the host" \
	bash -c "grep -q '^chown ok' '$WORK/vrt.out' && [ \"\$(owner '$V/new')\" = $VU:$VU ]"
vexpect vrt "... symlinks pointing outside stay symlinks, resolved in the guest: the host file never shows" \
	bash -c "grep -qx 'abs $VT/tripwire rel ../tripwire' '$WORK/vrt.out' && ! grep -q '$trip' '$WORK/vrt.out' &&
	[ \"\$(cat '$VT/tripwire')\" = '$trip' ]"

# --- a non-root image user; :ro; --mount ----------------------------------------------------------
mkdir -p "$VT/rw"
chown $VU:$VU "$VT/rw"
before=$(tree_sum "$V")
vstart vro --timings -u 1000:1000 -v "$V":/data:ro --mount "type=bind,source=$VT/rw,target=/w" -- sh -c '
	echo "owner $(stat -c %u:%g /data/hello) $(id -u)"
	echo x > /data/hello 2>&1; echo "write $?"
	rm /data/hello 2>&1; echo "rm $?"
	mkdir /data/nd 2>&1; echo "mkdir $?"
	touch /data/hello 2>&1; echo "touch $?"
	echo mine > /w/mine && echo "rw ok"'
vexpect vro "-u 1000:1000: the volume's files show uid 1000, the command's own" \
	grep -qx "owner 1000:1000 1000" "$WORK/vro.out"
vexpect vro ":ro refuses writes with EROFS, and the host folder is byte-identical afterwards" \
	bash -c "[ \$(cat '$WORK/vro.out' '$WORK/vro.err' | grep -c 'Read-only file system') -ge 4 ] &&
	grep -qx 'write 1' '$WORK/vro.out' && [ \"\$(tree_sum '$V')\" = '$before' ]"
vexpect vro "--mount type=bind,source=,target=: written by uid 1000 inside, owned by 4242 outside" \
	bash -c "grep -qx 'rw ok' '$WORK/vro.out' && [ \"\$(cat '$VT/rw/mine')\" = mine ] &&
	[ \"\$(owner '$VT/rw/mine')\" = $VU:$VU ]"
# The first start in this cache made its snapshot; the volumes are per
# run, so a resumed guest serves them as a booted one does.
vexpect vro "... and these volumes were served to a guest resumed from the snapshot" resumed vro

# --- an edit on the host while the container runs -------------------------------------------------
echo old > "$V/edit"
chown $VU:$VU "$V/edit"
rm -f "$V/ready" "$WORK/vedit.done"
( for _ in $(seq 600); do [ -e "$V/ready" ] || [ -e "$WORK/vedit.done" ] && break; sleep 0.1; done
  sleep 0.5
  date +%s.%N > "$WORK/vedit.at"
  echo new > "$V/edit" ) &
vedit=$!
vstart vedit -v "$V":/data -- sh -c '
	cat /data/edit > /dev/null; touch /data/ready
	i=0; while [ $i -lt 200 ]; do
		[ "$(cat /data/edit)" = new ] && { echo seen; exit 0; }
		sleep 0.05; i=$((i + 1)); done; exit 1'
seen_at=$(date +%s.%N)
touch "$WORK/vedit.done"
wait $vedit
vexpect vedit "a file edited on the host while the container runs is seen there (attributes time out in 1 s)" \
	bash -c "[ $st -eq 0 ] && grep -qx seen '$WORK/vedit.out'"
diag "volumes: the edit was seen $(awk -v a="$(cat "$WORK/vedit.at")" -v b="$seen_at" 'BEGIN { printf "%.1f", b - a }') s after it, pupa's exit included"

# --- streaming: one READ / WRITE per MiB, from pupa-vmm's own counters ----------------------------
# The container signals before and after its I/O and waits for the host,
# which reads the fs counters over the run's control socket in between.
head -c $((16 << 20)) /dev/urandom > "$V/stream.in"
chown $VU:$VU "$V/stream.in"
rm -f "$V/s1" "$V/s2" "$V/go1" "$V/go2"
# fs_delta NAME: the counter's growth between the two status replies
# (-1 when either lacks it: the start failed before the host could ask).
fs_delta() {
	local a b
	a=$(grep -o "\"$1\":[0-9]*" "$WORK/vstream.st1" 2> /dev/null | head -1 | cut -d: -f2)
	b=$(grep -o "\"$1\":[0-9]*" "$WORK/vstream.st2" 2> /dev/null | head -1 | cut -d: -f2)
	if [ -n "$a" ] && [ -n "$b" ]; then echo $((b - a)); else echo -1; fi
}
# The poller gives up as soon as the start has ended (vstream.done).
rm -f "$WORK/vstream.done"
( for step in 1 2; do
	for _ in $(seq 1200); do [ -e "$V/s$step" ] || [ -e "$WORK/vstream.done" ] && break; sleep 0.1; done
	ctl=$(ls -d "$VH"/tmp/pupa-run.*/control 2> /dev/null | head -1)
	"$top_builddir/tests/kvm/host-vsock" ctl "$ctl" 1 '{"request":"status"}' > "$WORK/vstream.st$step" 2>&1
	touch "$V/go$step"
  done ) &
vpoll=$!
vstart vstream -v "$V":/data -- sh -c '
	wait_for() { i=0; while [ ! -e "$1" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done; }
	touch /data/s1; wait_for /data/go1
	dd if=/data/stream.in of=/dev/null bs=1M 2> /dev/null
	dd if=/dev/zero of=/data/stream.out bs=1M count=16 conv=fsync 2> /dev/null
	touch /data/s2; wait_for /data/go2
	echo streamed'
touch "$WORK/vstream.done"
wait $vpoll
reads=$(fs_delta reads) rbytes=$(fs_delta read_bytes)
writes=$(fs_delta writes) wbytes=$(fs_delta write_bytes)
diag "volumes: 16 MiB read in $reads READs ($rbytes bytes), 16 MiB written in $writes WRITEs ($wbytes bytes)"
vexpect vstream "streaming: 16 MiB read in at most 20 READs and written in 16 WRITEs (1 MiB requests), as the status counts them" \
	bash -c "[ $st -eq 0 ] && grep -qx streamed '$WORK/vstream.out' && [ $rbytes -eq $((16 << 20)) ] &&
	[ $reads -ge 16 ] && [ $reads -le 20 ] && [ $writes -eq 16 ] && [ $wbytes -eq $((16 << 20)) ] &&
	[ \$(stat -c %s '$V/stream.out') -eq $((16 << 20)) ] && cmp -s -n $((16 << 20)) '$V/stream.out' /dev/zero"
rm -f "$V"/stream.* "$V"/s[12] "$V"/go[12]

# --- a metadata workload: tar -x, cp -a, rm -rf ---------------------------------------------------
mk=$VT/src
mkdir -p "$mk"
for d in $(seq 1 12); do
	mkdir -p "$mk/d$d/e"
	for f in $(seq 1 25); do printf 'file %s/%s\n' "$d" "$f" > "$mk/d$d/f$f"; done
	chmod 640 "$mk/d$d/f1"
	chmod 750 "$mk/d$d/e"
	ln -s "../d$d/f2" "$mk/d$d/e/link"
	ln "$mk/d$d/f3" "$mk/d$d/e/hard"
	head -c $((d * 7919)) /dev/urandom > "$mk/d$d/e/blob"
done
tar -C "$mk" -cf "$V/src.tar" .
mkdir "$VT/ref"
tar -C "$VT/ref" --no-same-owner -xpf "$V/src.tar"
chown -R $VU:$VU "$V" "$VT/ref"
vstart vtar -v "$V":/data -- sh -c '
	mkdir /data/x && tar -C /data/x -xf /data/src.tar && cp -a /data/x /data/y && rm -rf /data/x &&
	echo "files $(find /data/y -type f | wc -l)"'
ysum=$(tree_sum "$V/y")
rsum=$(tree_sum "$VT/ref")
vexpect vtar "tar -x of a tree (12 folders, 324 files, links, modes) into a volume, cp -a, rm -rf: the host sees the same tree" \
	bash -c "[ $st -eq 0 ] && [ ! -e '$V/x' ] && [ -d '$V/y/d12/e' ] && [ '$ysum' = '$rsum' ]"

# --- more files than pupa-vmm may hold open -----------------------------------------------------
# A hard limit of 256 descriptors leaves the file server 64 for nodes; the
# guest keeps every one of these 1200 files looked up (ls -lR) while it
# reads them all, so nodes must close and open again by name.
for d in $(seq 1 30); do
	mkdir -p "$VT/big/d$d"
	for f in $(seq 1 40); do echo "$d.$f" > "$VT/big/d$d/f$f"; done
done
chown -R $VU:$VU "$VT/big"
vlimit="prlimit --nofile=256:256 --"
vstart vbig -v "$VT/big":/big:ro -- sh -c '
	ls -lR /big > /dev/null
	find /big -type f | sort | while read -r f; do cat "$f"; done | wc -l
	cat /big/d7/f33'
vlimit=
vexpect vbig "a tree larger than pupa-vmm's descriptor limit (1200 files, 256 descriptors): every file read" \
	bash -c "[ \"\$(sed -n 1p '$WORK/vbig.out' | tr -d ' ')\" = 1200 ] && [ \"\$(sed -n 2p '$WORK/vbig.out')\" = 7.33 ]"

# --- --volume-owner host, pupa as root: host ids shown, chown real ----------------------------------
mkdir -p "$VT/own"
echo x > "$VT/own/f"
chown $VU:$VU "$VT/own/f"
XDG_CACHE_HOME=${XDG_CACHE_HOME:-$WORK/xdg-cache} timeout -k 5 180 "$PUPA" start -q --volume-owner host \
	-v "$VT/own":/o -- sh -c 'stat -c %u:%g /o/f; chown 123:456 /o/f && touch /o/new && stat -c %u:%g /o/new' \
	> "$WORK/vown.out" 2> "$WORK/vown.err" < /dev/null
st=$?
vexpect vown "--volume-owner host: the host's ids inside, and chown is real where pupa runs as root" \
	bash -c "[ \"\$(tr '\n' ' ' < '$WORK/vown.out')\" = '$VU:$VU 0:0 ' ] && [ \"\$(owner '$VT/own/f')\" = 123:456 ] &&
	[ \"\$(owner '$VT/own/new')\" = 0:0 ]"

# --- pupa as root: what a container may make on a volume ---------------------------------------------
# As the README's commands run it: pupa-vmm is root, yet the container makes
# no device node and no setuid or setgid file on the host, a write clears the
# setuid bit of a host file (pupa-vmm holds no CAP_FSETID), and a FIFO the
# host made, opened by the container, stalls nothing else on the volume.
P=$VT/priv
mkdir -p "$P"
echo x > "$P/f"
printf '#!/bin/sh\necho hi\n' > "$P/suid"
chmod 4755 "$P/suid"
mkfifo "$P/hostfifo"
rm -f "$WORK/vpriv.caps" "$WORK/vpriv.done"
# pupa-vmm's capabilities, read while the container waits for them.
( for _ in $(seq 1200); do [ -e "$P/ready" ] || [ -e "$WORK/vpriv.done" ] && break; nap 0.1; done
  vmm_find && grep '^Cap' "/proc/$vmm_pid/status" > "$WORK/vpriv.caps"
  touch "$P/go" ) &
vpriv=$!
XDG_CACHE_HOME=${XDG_CACHE_HOME:-$WORK/xdg-cache} timeout -k 5 180 "$PUPA" start -q -v "$P":/p -- sh -c '
	touch /p/ready; i=0; while [ ! -e /p/go ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
	mknod /p/kmsg c 1 11; echo "mknod c $?"
	mknod /p/loop b 7 0; echo "mknod b $?"
	mknod /p/fifo p; echo "mknod p $?"
	chmod u+s /p/f; echo "chmod u+s $?"
	chmod 6755 /p/f; echo "chmod 6755 $? $(stat -c %a /p/f)"
	echo more >> /p/suid; echo "write $?"
	cat /p/hostfifo > /dev/null & r=$!
	echo hi > /p/hostfifo; wait $r; echo "fifo $?"
	echo blocked > /p/hostfifo & w=$!
	sleep 1
	for n in 1 2 3 4 5 6 7 8; do echo "after $n" > /p/after$n || exit 1; done
	ls /p > /dev/null && cat /p/after8 && kill $w && echo done' \
	> "$WORK/vpriv.out" 2> "$WORK/vpriv.err" < /dev/null
st=$?
touch "$WORK/vpriv.done"
wait $vpriv
# cap_has SET BIT: the capability set (CapEff, CapBnd...) holds capability BIT
cap_has() { local v; v=$(sed -n "s/^$1:[[:space:]]*//p" "$WORK/vpriv.caps"); [ -n "$v" ] && (( (0x$v >> $2) & 1 )); }
vexpect vpriv "pupa as root: mknod c 1 11 and mknod b 7 0 in a container fail on a read-write volume, and no node shows on the host" \
	bash -c "grep -q '^mknod c [1-9]' '$WORK/vpriv.out' && grep -q '^mknod b [1-9]' '$WORK/vpriv.out' &&
	[ ! -e '$P/kmsg' ] && [ ! -e '$P/loop' ] && [ -z \"\$(find '$P' -type c -o -type b)\" ]"
vexpect vpriv "... a FIFO is made (mknod p), as a user's would be" \
	bash -c "grep -qx 'mknod p 0' '$WORK/vpriv.out' && [ -p '$P/fifo' ]"
vexpect vpriv "... chmod u+s and chmod 6755 leave no setuid or setgid bit on the host (the permissions do change)" \
	bash -c "grep -qx 'chmod 6755 0 755' '$WORK/vpriv.out' && [ \"\$(stat -c %a '$P/f')\" = 755 ] &&
	[ -z \"\$(find '$P' -perm /6000)\" ]"
vexpect vpriv "... a write through the volume clears the setuid bit of the host's own setuid file" \
	bash -c "grep -qx 'write 0' '$WORK/vpriv.out' && [ \"\$(stat -c %a '$P/suid')\" = 755 ] &&
	[ \"\$(tail -n 1 '$P/suid')\" = more ]"
vexpect vpriv "... pupa-vmm holds no CAP_MKNOD, CAP_SYS_ADMIN or CAP_FSETID (effective, permitted, bounding), and keeps CAP_CHOWN" \
	bash -c "$(declare -f cap_has); WORK='$WORK'; for s in CapEff CapPrm CapBnd; do for c in 27 21 4; do
	! cap_has \$s \$c || exit 1; done; done; cap_has CapEff 0"
vexpect vpriv "... a FIFO the host made, opened by the container, stalls nothing: eight more files written and read, the run ends" \
	bash -c "[ $st -eq 0 ] && grep -qx 'fifo 0' '$WORK/vpriv.out' && grep -qx 'after 8' '$WORK/vpriv.out' &&
	grep -qx done '$WORK/vpriv.out' &&
	[ \"\$(cat '$P/after1')\" = 'after 1' ] && [ -p '$P/hostfifo' ]"

# --- a missing target on a read-only root ---------------------------------------------------------
vstart vrootro --rootfs-mode ro -v "$V":/no/such/dir -- true
vexpect vrootro "--rootfs-mode ro: a volume target missing in the image is an error that names it" \
	bash -c "[ $st -eq 125 ] && grep -q 'volume target /no/such/dir' '$WORK/vrootro.err'"
vexpect vrootro "volumes: nothing left behind (no pupa-vmm, no run folder, no temporaries)" \
	bash -c "! pgrep -x pupa-vmm > /dev/null && [ -z \"\$(ls -A '$VH/tmp')\" ]"
