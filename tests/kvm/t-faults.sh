# Faults, hostile guests and load. pupa and pupa-vmm are SIGKILLed at
# every state of a start; a guest agent breaks the protocol in each way it
# can; eight containers start at once. After each: no pupa-vmm left, no run
# folder, no temporary file, a cache whose images all check out, and the
# next start works.

PUPA=$top_builddir/container/pupa
unset XDG_RUNTIME_DIR
export XDG_CACHE_HOME=$WORK/faults-cache
export TMPDIR=$WORK/faults-tmp
mkdir -p "$TMPDIR" "$WORK/faults"
E2FSCK=$(PATH=$PATH:/sbin:/usr/sbin command -v e2fsck)

# f_clean: nothing of a finished start is left (pupa-vmm gets 5 s to go).
f_clean() {
	vmm_gone && empty_dir "$TMPDIR" && empty_dir "$XDG_CACHE_HOME/pupa/tmp"
}
f_show_left() {
	pgrep -a pupa-vmm | sed 's/^/#   running: /'
	ls -la "$TMPDIR" "$XDG_CACHE_HOME/pupa/tmp" 2> /dev/null | sed 's/^/#   /'
}
# f_cache_whole: every cached image matches its recorded size and
# checksum, and passes a forced read-only e2fsck. An image file unchanged
# since it passed (the same inode and ctime, which every write moves; its
# bytes as recorded, too) is not checked again: the same bytes pass again.
f_fscked=" "
f_cache_whole() {
	local img key
	"$PUPA" images --verify > "$WORK/faults/verify.out" 2>&1 ||
		{ sed 's/^/#   verify: /' "$WORK/faults/verify.out"; return 1; }
	find "$XDG_CACHE_HOME/pupa/images" -maxdepth 1 -name '*.ext4' -printf '%p %i:%C@\n' \
		> "$WORK/faults/images.list" 2> /dev/null
	while read -r img key; do
		case $f_fscked in *" $img:$key "*) continue ;; esac
		"$E2FSCK" -fn "$img" > "$WORK/faults/fsck.out" 2>&1 ||
			{ diag "e2fsck -fn $img:"; sed 's/^/#   /' "$WORK/faults/fsck.out" | tail -5; return 1; }
		f_fscked+="$img:$key "
	done < "$WORK/faults/images.list"
}

# --- a guest agent that breaks the protocol ------------------------------------------------
# Each mode boots the hostile agent as the guest's init. Failures that need
# no waiting come well inside the default 30 s deadline; the others wait
# for PUPA_AGENT_TIMEOUT=3, not less and not the default. They run with
# --no-snapshot (the protocol after HELLO is what they break) unless
# HOSTILE_OPTS says otherwise; with snapshots, FREEZE comes first.
hostile() {
	local mode=$1 deadline=$2 reason=$3 t0 secs st opts=${HOSTILE_OPTS---no-snapshot}
	printf '%s\n' "$mode" > "$WORK/faults/mode"
	printf '%s\n' "dir /dev 0755 0 0" "nod /dev/console 0600 0 0 c 5 1" \
		"file /init $top_builddir/tests/kvm/hostile-agent 0755 0 0" \
		"file /mode $WORK/faults/mode 0644 0 0" > "$WORK/faults/hostile.list"
	"$MKCPIO" -o "$WORK/faults/hostile-$mode.cpio" "$WORK/faults/hostile.list"
	t0=$(date +%s.%N)
	PUPA_AGENT_TIMEOUT=$deadline timeout -k 5 120 "$PUPA" start -q $opts \
		--initrd "$WORK/faults/hostile-$mode.cpio" -- true \
		> "$WORK/faults/$mode.out" 2> "$WORK/faults/$mode.err" < /dev/null
	st=$?
	secs=$(echo "$(date +%s.%N) - $t0" | bc)
	hostile_ok() {
		[ "$st" -eq 125 ] && grep -q "$reason" "$WORK/faults/$mode.err" &&
			if [ -n "$deadline" ]; then
				[ "$(echo "$secs >= $deadline && $secs < 25" | bc)" = 1 ]
			else
				[ "$(echo "$secs < 25" | bc)" = 1 ]
			fi && f_clean
	}
	if hostile_ok; then
		ok "hostile agent '$mode'${opts:+ ($opts)}: exit 125 after ${secs%???????} s, the reason given, nothing left"
	else
		not_ok "hostile agent '$mode'${opts:+ ($opts)}: exit 125 within its deadline, '$reason', nothing left"
		diag "status $st after $secs s; stderr:"
		sed 's/^/#   | /' "$WORK/faults/$mode.err" | tail -5
		f_show_left
	fi
}
# The default image, cached once, so that the boot is all a start waits for.
"$PUPA" start -q -- true > /dev/null 2>&1 < /dev/null
hostile garbage "" "did not say HELLO: it sent bytes that are not an agent protocol frame"
hostile oversized "" "did not say HELLO: it sent a frame over the 64 KiB limit"
hostile endless 3 "did not say HELLO: no whole message within 3 s"
hostile dribble 3 "did not say HELLO: no whole message within 3 s"
hostile deaf 3 "did not acknowledge the root disk: no whole message within 3 s"
hostile mute-start 3 "did not answer START: no whole message within 3 s"
hostile run-garbage "" "broke the protocol: it sent bytes that are not an agent protocol frame"
# With snapshots (the default): an agent that never answers FREEZE.
HOSTILE_OPTS= hostile deaf 3 "did not answer FREEZE: no whole message within 3 s"

# --- the fault loop: SIGKILL at every state -------------------------------------------------
# Each round makes a new image (the default tarball plus a file of its own)
# so that Downloading and Extracting do real work, starts it with
# --status-fd, and SIGKILLs pupa or pupa-vmm (alternating) on entering a
# state (cycling through all seven), or after a random delay. Then: no
# pupa-vmm left, a start of the same image succeeds and leaves nothing,
# every cached image checks out; the round's image is removed again.
states=(kTransient kLaunchingGuest kStartingVm kDownloading kExtracting kStarting kReady)
seed=${PUPA_FAULT_SEED:-$(date +%s)}
RANDOM=$seed
rounds=${PUPA_FAULT_ROUNDS:-50}
diag "fault loop: $rounds rounds, seed $seed (PUPA_FAULT_SEED=$seed repeats it)"
gzip -dc "$top_builddir/images/default-rootfs.tar.gz" > "$WORK/faults/base.tar"
mkdir -p "$WORK/faults/stamp"

# f_killer WHEN TARGET: read pupa's status lines; at WHEN (a state name,
# or a delay in seconds), SIGKILL TARGET (pupa or pupa-vmm, once it runs).
# No exec in here (sleep, seq, cat): each costs a tenth of a second in
# the test host, fifty rounds over.
f_killer() {
	local when=$1 target=$2 pid line victim= i st
	case $when in
	k*) while read -r -t 120 line; do
		case $line in *"\"name\":\"$when\""*) break ;; esac
	    done ;;
	*) nap "$when" ;;
	esac
	for ((i = 0; i < 100; i++)); do [ -s "$WORK/faults/pupa.pid" ] && break; nap 0.01; done
	read -r pid < "$WORK/faults/pupa.pid"
	if [ "$target" = pupa ]; then
		victim=$pid
	else
		for ((i = 0; i < 200; i++)); do
			vmm_find "$pid" && victim=$vmm_pid && break
			kill -0 "$pid" 2> /dev/null || break
			nap 0.05
		done
	fi
	[ -n "$victim" ] && kill -KILL "$victim" 2> /dev/null && echo "$victim" > "$WORK/faults/killed"
	# pupa runs without timeout(1), which would stand between it and
	# pupa.pid: a pupa that does not end after the kill (its status
	# lines still open 120 s on) is ended here.
	while read -r -t 120 line; st=$?; [ "$st" -eq 0 ]; do :; done
	[ "$st" -le 128 ] || { kill -KILL "$pid"; diag "pupa did not end within 120 s"; }
}

# A guest that resets while booting (KVM_EXIT_SHUTDOWN: "guest shut down
# (triple fault or reset)") has been seen about once in a hundred boots in
# the test host, without any kill involved: cause not known yet (nested
# TCG, or pupa-vmm; docs/security.md). It is not what this loop tests, so
# such a start is counted and shown, and a round whose victim ended that
# way before the kill is run again; a next start that ended that way gets
# one more try. Any other failure fails the loop.
guest_reset="pupa-vmm: stopped: guest shut down (triple fault or reset)"
resets=0
t_loop=$(date +%s)
# Where a round's time goes (ms): the image, the killed start, the next
# start, the checks of the cache.
# ms VAR: milliseconds now, into VAR (no date(1): an exec costs 0.1 s there).
ms() { local t=${EPOCHREALTIME//[.,]/}; printf -v "$1" '%s' $((t / 1000)); }
t_image=0 t_kill=0 t_next=0 t_check=0
failed_rounds=0
n_state=0
n_random=0
for round in $(seq 1 "$rounds"); do
	# Every sixth round at a random delay; the others at the next state,
	# all seven with pupa, then all seven with pupa-vmm, and again.
	if [ $((round % 6)) -eq 0 ]; then
		when=$((RANDOM % 3)).$(printf '%03d' $((RANDOM % 1000)))
		target=$([ $((n_random % 2)) -eq 0 ] && echo pupa || echo pupa-vmm)
		n_random=$((n_random + 1))
	else
		when=${states[$((n_state % 7))]}
		target=$([ $((n_state / 7 % 2)) -eq 0 ] && echo pupa || echo pupa-vmm)
		n_state=$((n_state + 1))
	fi
	ms m0
	echo "$round $seed" > "$WORK/faults/stamp/round"
	cp "$WORK/faults/base.tar" "$WORK/faults/round.tar"
	tar -rf "$WORK/faults/round.tar" -C "$WORK/faults/stamp" round
	ms m1
	for try in 1 2; do
		rm -f "$WORK/faults/pupa.pid" "$WORK/faults/killed"
		( echo "$BASHPID" > "$WORK/faults/pupa.pid"
		  exec "$PUPA" start -q --status-fd 3 "$WORK/faults/round.tar" -- sleep 30 \
			3>&1 > /dev/null 2> "$WORK/faults/kill.err" < /dev/null ) | f_killer "$when" "$target"
		killed_st=${PIPESTATUS[0]}
		[ ! -s "$WORK/faults/killed" ] && grep -qF "$guest_reset" "$WORK/faults/kill.err" || break
		resets=$((resets + 1))
		diag "round $round: the guest reset while booting, before the kill; once more"
		vmm_gone
	done
	# A SIGKILLed pupa's VM must follow it on its own.
	vmm_gone
	vmm_left=$?
	ms m2
	problems=
	[ "$vmm_left" -eq 0 ] || problems+=" pupa-vmm outlived the kill;"
	[ -s "$WORK/faults/killed" ] || problems+=" nothing was killed (pupa ended first, status $killed_st);"
	# pupa-vmm killed under a live pupa: pupa fails as such, and says so
	# whatever it was doing (waiting, or talking to pupa-init).
	if [ "$target" = pupa-vmm ] && [ -s "$WORK/faults/killed" ]; then
		[ "$killed_st" -eq 125 ] || problems+=" pupa exited $killed_st after losing pupa-vmm, not 125;"
		grep -q 'pupa-vmm was killed by signal 9' "$WORK/faults/kill.err" ||
			problems+=" pupa did not say that pupa-vmm was killed;"
	fi
	for try in 1 2; do
		timeout -k 5 120 "$PUPA" start -q --keep-failed "$WORK/faults/round.tar" -- cat /round \
			> "$WORK/faults/next.out" 2> "$WORK/faults/next.err" < /dev/null
		next_st=$?
		[ "$next_st" -ne 0 ] && grep -qF "$guest_reset" "$WORK/faults/next.err" && [ $try -eq 1 ] || break
		resets=$((resets + 1))
		diag "round $round: the next start's guest reset while booting; once more"
		for kept in "$TMPDIR"/pupa-run.*; do
			[ -e "$kept/KEPT" ] || continue
			tail -n 8 "$kept/console.log" 2> /dev/null | sed 's/^/#   console| /'
			rm -rf "$kept"
		done
	done
	next_out=$(< "$WORK/faults/next.out")
	if [ "$next_st" -ne 0 ] || [ "$next_out" != "$round $seed" ]; then
		problems+=" the next start failed (status $next_st: $(tail -1 "$WORK/faults/next.err"));"
		# What the guest said, then the kept run folder goes.
		for kept in "$TMPDIR"/pupa-run.*; do
			[ -e "$kept/KEPT" ] || continue
			tail -n 15 "$kept/console.log" 2> /dev/null | sed 's/^/#   console| /'
			tail -n 5 "$kept/vmm.log" 2> /dev/null | sed 's/^/#   vmm.log| /'
			rm -rf "$kept"
		done
	fi
	ms m3
	f_clean || problems+=" something was left behind;"
	f_cache_whole || problems+=" the cache is not whole;"
	"$PUPA" rmi "$WORK/faults/round.tar" > /dev/null 2>&1 || problems+=" rmi failed;"
	ms m4
	t_image=$((t_image + m1 - m0)) t_kill=$((t_kill + m2 - m1)) t_next=$((t_next + m3 - m2)) t_check=$((t_check + m4 - m3))
	if [ -n "$problems" ]; then
		failed_rounds=$((failed_rounds + 1))
		diag "round $round (SIGKILL $target at $when):$problems"
		sed 's/^/#   | /' "$WORK/faults/kill.err" | tail -3
		f_show_left
	fi
done
t_loop=$(( $(date +%s) - t_loop ))
diag "fault loop: seconds in all rounds: image $((t_image / 1000)), killed start $((t_kill / 1000)), next start $((t_next / 1000)), checks $((t_check / 1000))"
[ "$resets" -eq 0 ] || diag "fault loop: $resets guest resets while booting, unrelated to the kills (see above)"
check "fault loop: $rounds SIGKILLs of pupa or pupa-vmm at every state and at random; each time nothing left, the cache whole, the next start fine ($t_loop s, $resets boot resets run again)" \
	test "$failed_rounds" -eq 0

# --- load: eight starts at once --------------------------------------------------------------
# Eight starts at once of the cached default image, booting, racing for
# the --memory 128 snapshot (one writes it under its lock, the others boot
# on). A guest that resets on its own (above; traced in the test host at
# the first instruction after one KVM emulated, docs/security.md) fails
# its start: then, and only then, the eight run again, together, at most
# twice more, each time without the snapshot the run before made, and
# each reset is shown.
load_round() {
	local loaders=() i
	for i in 1 2 3 4 5 6 7 8; do
		( timeout -k 5 300 "$PUPA" start -q --memory 128 -- sh -c "seq 1 3000 | sed 's/^/$i:/'" \
			> "$WORK/faults/load-$i.out" 2> "$WORK/faults/load-$i.err" < /dev/null
		  echo $? > "$WORK/faults/load-$i.st" ) &
		loaders+=($!)
	done
	# The eight take 10-30 s in the test host; a start still running at 40 s
	# is likely stuck (the hello deadline is 60 s): show where vCPUs are.
	for _ in $(seq 40); do
		load_running || break
		sleep 1
	done
	load_running && { diag "load: still running after 40 s; KVM exits in 1 s:"; vcpu_exits; }
	# Not a bare wait: run-all.sh's watchdog is a child of this shell too.
	wait "${loaders[@]}"
}
load_running() {
	local p
	for p in "${loaders[@]}"; do kill -0 "$p" 2> /dev/null && return 0; done
	return 1
}
# load_reset: some start failed, and every failure was a guest reset.
load_reset() {
	local i resets=0
	for i in 1 2 3 4 5 6 7 8; do
		[ "$(cat "$WORK/faults/load-$i.st")" -eq 0 ] && continue
		grep -qF "$guest_reset" "$WORK/faults/load-$i.err" || return 1
		diag "load: start $i's guest reset: $(grep -F "$guest_reset" "$WORK/faults/load-$i.err" | tail -1)"
		resets=$((resets + 1))
	done
	[ "$resets" -gt 0 ]
}
load_ok() {
	local i
	for i in 1 2 3 4 5 6 7 8; do
		[ "$(cat "$WORK/faults/load-$i.st")" -eq 0 ] &&
			seq 1 3000 | sed "s/^/$i:/" | cmp -s - "$WORK/faults/load-$i.out" ||
			{ diag "start $i: status $(cat "$WORK/faults/load-$i.st")"
			  sed 's/^/#   | /' "$WORK/faults/load-$i.err" | tail -3; return 1; }
	done
	f_clean
}
t0=$(date +%s)
for try in 1 2 3; do
	[ $try -eq 1 ] || rm -f "$XDG_CACHE_HOME"/pupa/snapshots/*.snap
	load_round
	load_reset && [ $try -lt 3 ] || break
	diag "load: the eight run once more"
done
check "load: 8 concurrent starts with --memory 128 all succeed, each with its own output ($(( $(date +%s) - t0 )) s)" load_ok
