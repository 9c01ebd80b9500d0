# pupa start, the product: the ContainerStatus walk, the default image, an
# image over HTTP from nginx (inside this same environment, on 127.0.0.1),
# options, failures, signals, root filesystem modes, an unprivileged user,
# and nothing left behind.

PUPA=$top_builddir/container/pupa
T=$top_builddir/tests/tools
. "$top_srcdir/tests/tools/nginx.sh"
export XDG_CACHE_HOME=$WORK/xdg-cache
export TMPDIR=$WORK/tmp
mkdir -p "$TMPDIR" "$WORK/www"

# start NAME ARGS...: pupa start, stdout in NAME.out, stderr in NAME.err; sets st.
start() {
	local name=$1
	shift
	timeout -k 5 180 "$PUPA" start "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" < /dev/null
	st=$?
}
show() { sed 's/^/#   | /' "$WORK/$1.out" "$WORK/$1.err" | tail -n 15; }
# expect NAME DESC CONDITION...: a check that shows the run when it fails.
expect() {
	local name=$1 desc=$2
	shift 2
	if "$@"; then ok "$desc"; else not_ok "$desc"; diag "status $st"; show "$name"; fi
}
# The seven states, in order, with values 1..7, and nothing else.
walked() {
	[ "$(grep -o '"name":"k[A-Za-z]*","value":[0-9]' "$WORK/$1.out" | uniq | tr '\n' ' ')" = \
	  '"name":"kTransient","value":1 "name":"kLaunchingGuest","value":2 "name":"kStartingVm","value":3 "name":"kDownloading","value":4 "name":"kExtracting","value":5 "name":"kStarting","value":6 "name":"kReady","value":7 ' ]
}
# The first start made the snapshot of this cache; the later ones resume it
# (their --timings say so, lib.sh's resumed), so the modes, signals and -t
# below run on a restored guest.
no_leftovers() {
	! pgrep -x pupa-vmm > /dev/null && [ -z "$(ls -A "$TMPDIR")" ] &&
		[ -z "$(ls -A "$XDG_CACHE_HOME/pupa/tmp")" ]
}

start default-hi -- sh -c 'echo hi; exit 3'
expect default-hi "start on the default image: the command's output, its status (3)" \
	test "$st" -eq 3 -a "$(cat "$WORK/default-hi.out")" = hi
expect default-hi "... and nothing left behind (no pupa-vmm, no run folder, no temporaries)" no_leftovers

start json --progress=json -- true
expect json "--progress=json: the seven states in order, values 1..7" walked json

start plain --progress=plain --timings -- uname -s
expect plain "--progress=plain: one line per state, then the container's output; --timings" \
	bash -c "[ \"\$(head -7 '$WORK/plain.out' | tr '\n' ' ')\" = 'Transient LaunchingGuest StartingVm Downloading Extracting Starting Ready ' ] && [ \"\$(tail -1 '$WORK/plain.out')\" = Linux ] && grep -q '^pupa: timings: Transient .* Ready .* total ' '$WORK/plain.err'"

start opts -e FOO=bar -e HOME=/elsewhere -w /tmp -u nobody --hostname box -- \
	sh -c 'echo "$FOO $HOME $(pwd) $(id -u):$(id -g) $(hostname)"'
expect opts "-e, -w, -u, --hostname take effect" \
	test "$(cat "$WORK/opts.out")" = "bar /elsewhere /tmp 65534:65534 box"

# A docker run line as a Docker user types it: IMAGE, then the command,
# -h the hostname, -m with Docker's unit, --rm and --init accepted.
image=$top_builddir/images/default-rootfs.tar.gz
start dockerline -e A=1 -w /tmp -h box -m 256m --rm --init "$image" sh -c 'echo $A; pwd; hostname'
expect dockerline "docker run's line unchanged: pupa start -e A=1 -w /tmp -h box -m 256m --rm --init IMAGE sh -c ..." \
	test "$st" -eq 0 -a "$(tr '\n' ' ' < "$WORK/dockerline.out")" = "1 /tmp box "
# MemTotal is what the guest kernel has left of its RAM: close below it.
start meminfo -q -m 256m --cpus 1.5 "$image" sh -c 'grep MemTotal /proc/meminfo; nproc'
mem_kib=$(awk '/MemTotal/ {print $2}' "$WORK/meminfo.out")
expect meminfo "-m 256m: the guest sees 256 MiB (MemTotal ${mem_kib:-?} kB); --cpus 1.5: 2 vCPUs" \
	bash -c "[ $st -eq 0 ] && [ ${mem_kib:-0} -gt 200000 ] && [ ${mem_kib:-0} -le 262144 ] && [ \"\$(tail -1 '$WORK/meminfo.out')\" = 2 ]"
start onegig -q -m 1g "$image" sh -c 'grep MemTotal /proc/meminfo'
mem_kib=$(awk '/MemTotal/ {print $2}' "$WORK/onegig.out")
expect onegig "-m 1g: the guest sees 1 GiB (MemTotal ${mem_kib:-?} kB)" \
	bash -c "[ $st -eq 0 ] && [ ${mem_kib:-0} -gt 900000 ] && [ ${mem_kib:-0} -le 1048576 ]"

start notfound -- /no/such/command
expect notfound "a command that does not exist: kFailed in Starting, exit 127" \
	bash -c "[ $st -eq 127 ] && grep -q 'failed in Starting: .*no/such/command' '$WORK/notfound.err'"

start stdin -i --timings -- sh -c 'wc -c' < /dev/null
expect stdin "-i with stdin at its end: the command sees EOF (resumed from the snapshot)" \
	bash -c "[ \"\$(tr -d ' ' < '$WORK/stdin.out')\" = 0 ] && grep -q 'resumed from a snapshot' '$WORK/stdin.err'"

# --- the root filesystem modes -----------------------------------------------------
img=$(ls "$XDG_CACHE_HOME"/pupa/images/*.ext4 | head -1)
before=$(sha256sum < "$img")
start volatile --timings --rootfs-mode=volatile -- sh -c 'for d in / /etc /bin /root /usr /var; do echo x > $d/pupa-wrote || exit 1; done; cat /etc/pupa-wrote /bin/pupa-wrote; rm /bin/ls && ! test -e /bin/ls && echo gone'
expect volatile "volatile: the container writes everywhere and sees its writes" \
	test "$(cat "$WORK/volatile.out" | tr '\n' ' ')" = "x x gone "
expect volatile "... and the cached image is byte-identical afterwards" test "$(sha256sum < "$img")" = "$before"
start ro --timings --rootfs-mode=ro -- sh -c 'echo x > /etc/nope'
expect ro "ro: writes to the root fail" bash -c "[ $st -ne 0 ] && grep -qi 'read-only' '$WORK/ro.err'"
start rw --timings --rootfs-mode=rw -- sh -c 'echo kept > /etc/rw && sync && cat /etc/rw'
expect rw "rw: a private copy, writable; the cache untouched" \
	bash -c "[ \"\$(cat '$WORK/rw.out')\" = kept ] && [ \"\$(sha256sum < '$img')\" = '$before' ]"
expect rw "... and the private copy is gone" no_leftovers
modes_resumed() { resumed volatile && resumed ro && resumed rw; }
expect rw "volatile, ro and rw each ran on a guest resumed from the snapshot" modes_resumed

# --- over HTTP: nginx here, on 127.0.0.1 ---------------------------------------------
"$T/mktar" types "$WORK/www/rootfs.tar.gz" gzip
# a shell in it too: the types image has none
cp "$top_builddir/images/default-rootfs.tar.gz" "$WORK/www/busybox.tar.gz"
if nginx_start "$WORK/www" "$WORK/nginx"; then
	web=http://127.0.0.1:$nginx_port
	start http --progress=json "$web/busybox.tar.gz" -- sh -c 'echo hi; exit 3'
	http_ok() { [ "$st" -eq 3 ] && [ "$(tail -1 "$WORK/http.out")" = hi ] && walked http; }
	expect http "from nginx: prints hi, exits 3, walks the seven states" http_ok
	: > "$WORK/nginx/access.log"
	start http2 --progress=json "$web/busybox.tar.gz" -- true
	http2_ok() {
		[ "$st" -eq 0 ] && [ "$(wc -l < "$WORK/nginx/access.log")" -eq 1 ] &&
			grep -q ' 304 ' "$WORK/nginx/access.log" && walked http2
	}
	expect http2 "the second start: one conditional request (304), every state walked" http2_ok
	start e404 --progress=json "$web/missing.tar.gz" -- true
	expect e404 "404: kFailed with failed_in 4, exit 125, the URL in the reason" \
		bash -c "[ $st -eq 125 ] && grep -q '\"name\":\"kFailed\",\"value\":8,\"failed_in\":4,.*$web/missing.tar.gz: HTTP 404' '$WORK/e404.out'"
	nginx_stop
else
	not_ok "nginx starts on 127.0.0.1 in the test environment"
fi

# --- failures and signals -----------------------------------------------------------------
( timeout -k 5 120 "$PUPA" start --progress=json -- sleep 60 > "$WORK/killvmm.out" 2> "$WORK/killvmm.err" < /dev/null
  echo $? > "$WORK/killvmm.status" ) &
waiter=$!
for _ in $(seq 300); do grep -q kReady "$WORK/killvmm.out" 2> /dev/null && break; sleep 0.1; done
pkill -KILL -x pupa-vmm
wait $waiter
st=$(cat "$WORK/killvmm.status")
# It wrote no exit record: VmmUnexpectedTermination, killed by signal 9.
expect killvmm "SIGKILL of pupa-vmm mid-run: kFailed with VmmUnexpectedTermination, exit 125" \
	bash -c "[ $st -eq 125 ] && grep -q '\"name\":\"kFailed\".*VmmUnexpectedTermination' '$WORK/killvmm.out' &&
		grep -q '\"name\":\"kFailed\".*pupa-vmm was killed by signal 9' '$WORK/killvmm.out'"
expect killvmm "... nothing left behind" no_leftovers

# After kReady a signal is the container's: it may handle it and exit.
"$PUPA" start -q --timings -- sh -c 'trap "echo got TERM; exit 7" TERM; echo ready; sleep 60 & wait' \
	> "$WORK/sigterm.out" 2> "$WORK/sigterm.err" < /dev/null &
victim=$!
for _ in $(seq 300); do grep -q ready "$WORK/sigterm.out" 2> /dev/null && break; sleep 0.1; done
kill -TERM $victim
wait $victim
st=$?
expect sigterm "SIGTERM after kReady goes to the container, which exits 7 (resumed from the snapshot)" \
	bash -c "[ $st -eq 7 ] && [ \"\$(tail -1 '$WORK/sigterm.out')\" = 'got TERM' ] && grep -q 'resumed from a snapshot' '$WORK/sigterm.err'"

# A kernel panic: an initramfs with no init.
echo "dir /nothing 0755 0 0" > "$WORK/noinit.list"
"$MKCPIO" -o "$WORK/noinit.cpio" "$WORK/noinit.list"
start panic --initrd "$WORK/noinit.cpio" -- true
expect panic "a kernel panic: kFailed in StartingVm with the console's panic line" \
	bash -c "[ $st -eq 125 ] && grep -q 'failed in StartingVm: the guest kernel panicked: Kernel panic' '$WORK/panic.err'"

# SIGINT while downloading (a slow server), then a start that resumes.
gzip -dc "$top_builddir/images/default-rootfs.tar.gz" > "$WORK/www/big.tar"
"$T/faultd" "$WORK/www" "$WORK/faultd.port" "$WORK/faultd.log" &
faultd=$!
for _ in $(seq 50); do [ -s "$WORK/faultd.port" ] && break; sleep 0.1; done
# 320 KiB/s: under load the boot can outlast a faster download, and the
# interrupt must find it running.
slow=http://127.0.0.1:$(cat "$WORK/faultd.port")/slower/big.tar
"$PUPA" start --progress=json "$slow" -- true > "$WORK/sigint.out" 2> "$WORK/sigint.err" < /dev/null &
victim=$!
for _ in $(seq 600); do
	[ "$(cat "$XDG_CACHE_HOME"/pupa/partial/* 2> /dev/null | wc -c)" -gt 300000 ] && break
	sleep 0.1
done
kill -INT $victim
wait $victim
st=$?
sigint_ok() {
	[ "$st" -eq 130 ] && grep -q '"name":"kFailed"' "$WORK/sigint.out" &&
		[ -n "$(ls "$XDG_CACHE_HOME/pupa/partial")" ] && no_leftovers ||
		{ ls -la "$XDG_CACHE_HOME/pupa/partial" "$TMPDIR" "$XDG_CACHE_HOME/pupa/tmp" | sed 's/^/# /'; false; }
}
expect sigint "SIGINT during the download: exit 130, kFailed, the partial kept, nothing else left" sigint_ok
start resume --progress=none "$slow" -- true
expect resume "... the next start resumes it (Range) and runs" \
	bash -c "[ $st -eq 0 ] && grep -q '^GET /slower/big.tar range=bytes=[1-9][0-9]*- .*status=206' '$WORK/faultd.log'"
kill $faultd 2> /dev/null
wait $faultd 2> /dev/null

# -t under a pseudo-terminal: script(1) gives pupa one.
if command -v script > /dev/null; then
	timeout -k 5 120 script -qec "$PUPA start -q -t --timings -- sh -c 'tty; stty size'" /dev/null \
		> "$WORK/tty.out" 2> "$WORK/tty.err" < /dev/null
	st=$?
	# script(1) puts the pty's output, pupa's stderr with it, in tty.out.
	expect tty "-t under a pty: the command has a terminal (resumed from the snapshot)" \
		bash -c "[ $st -eq 0 ] && grep -q '^/dev/pts/[0-9]' '$WORK/tty.out' && grep -q 'resumed from a snapshot' '$WORK/tty.out'"
else
	not_ok "-t under a pty: script(1) is missing (util-linux)"
fi

# --- a pupa killed with SIGKILL: the next start removes what it left ----------------------
( timeout -k 5 120 "$PUPA" start --progress=json -- sleep 60 > "$WORK/killpupa.out" 2> /dev/null < /dev/null ) &
waiter=$!
for _ in $(seq 300); do grep -q kReady "$WORK/killpupa.out" 2> /dev/null && break; sleep 0.1; done
left=$(ls -d "$TMPDIR"/pupa-run.* 2> /dev/null)
pkill -KILL -x pupa
wait $waiter 2> /dev/null
vmm_gone
start afterkill -- true
expect afterkill "SIGKILL of pupa: its VM goes with it, and the next start removes its run folder" \
	bash -c "[ $st -eq 0 ] && [ -n '$left' ] && [ ! -e '$left' ] && ! pgrep -x pupa-vmm > /dev/null"
mkdir -p "$TMPDIR/pupa-run.kept" && touch "$TMPDIR/pupa-run.kept/KEPT"
start afterkept -- true
expect afterkept "... a run folder kept by --keep-failed stays" test -d "$TMPDIR/pupa-run.kept"
rm -rf "$TMPDIR/pupa-run.kept"

# --- without root: an ordinary user with access to /dev/kvm ------------------------------------
kvm_gid=$(stat -c %g /dev/kvm)
[ "$kvm_gid" -eq 0 ] && { chgrp 999 /dev/kvm; kvm_gid=999; }
chmod 660 /dev/kvm
mkdir -p "$WORK/user/cache" "$WORK/user/tmp"
chown -R 4242:4242 "$WORK/user"
chmod 755 "$WORK"
timeout -k 5 180 setpriv --reuid 4242 --regid 4242 --groups "$kvm_gid" env HOME="$WORK/user" \
	XDG_CACHE_HOME="$WORK/user/cache" TMPDIR="$WORK/user/tmp" \
	"$PUPA" start -q -- sh -c 'echo unprivileged' > "$WORK/user.out" 2> "$WORK/user.err" < /dev/null
st=$?
expect user "an unprivileged user in the kvm group starts a container" \
	bash -c "[ $st -eq 0 ] && [ \"\$(cat '$WORK/user.out')\" = unprivileged ]"

expect user "nothing left behind after all of the above" no_leftovers
