# OCI images started for real: an image layout built here from busybox in
# two layers runs its own Entrypoint and Cmd with its Env, WorkingDir and
# User, a whiteout shows, and the command line overrides each as docker run
# does.

PUPA=$top_builddir/container/pupa
export XDG_CACHE_HOME=$WORK/oci-cache
export TMPDIR=$WORK/oci-tmp
mkdir -p "$TMPDIR" "$WORK/oci/1/bin" "$WORK/oci/1/etc" "$WORK/oci/1/srv" "$WORK/oci/2/etc"
cp "$BUSYBOX" "$WORK/oci/1/bin/busybox"
for t in sh echo id pwd test cat; do ln -s busybox "$WORK/oci/1/bin/$t"; done
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/srv:/bin/sh\n' > "$WORK/oci/1/etc/passwd"
printf 'root:x:0:\napp:x:1000:\n' > "$WORK/oci/1/etc/group"
echo "welcome" > "$WORK/oci/1/etc/motd"
touch "$WORK/oci/2/etc/.wh.motd"
(cd "$WORK/oci/1" && bsdtar -czf "$WORK/oci/1.tar.gz" --uid 0 --gid 0 .)
(cd "$WORK/oci/2" && bsdtar -cf "$WORK/oci/2.tar" --uid 0 --gid 0 etc/.wh.motd)
cat > "$WORK/oci/config.json" <<'EOF'
{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/sh","-c"],
 "Cmd":["echo $GREETING from $(pwd) as $(id -u); test -e /etc/motd || echo motd gone"],
 "Env":["GREETING=hello","PATH=/bin"],"WorkingDir":"/srv","User":"app"}}
EOF
oci_image=oci:$WORK/oci/layout:v1
"$top_srcdir/tests/tools/mkoci" "$WORK/oci/layout" v1 "$WORK/oci/config.json" \
	"$WORK/oci/1.tar.gz" "$WORK/oci/2.tar" > /dev/null

ostart() {
	local name=$1
	shift
	timeout -k 5 180 "$PUPA" start -q "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" < /dev/null
	st=$?
}
oexpect() {
	local name=$1 desc=$2 want=$3
	if [ "$st" -eq 0 ] && [ "$(cat "$WORK/$name.out")" = "$want" ]; then
		ok "$desc"
	else
		not_ok "$desc"
		diag "status $st, wanted: $want"
		sed 's/^/#   | /' "$WORK/$name.out" "$WORK/$name.err" | tail -n 10
	fi
}

ostart oci-default "$oci_image"
oexpect oci-default "oci:DIR:REF with no command: the image's Entrypoint+Cmd, Env, WorkingDir, User; its whiteout applied" \
	"hello from /srv as 1000
motd gone"
ostart oci-cmd "$oci_image" -- 'echo $GREETING, $(id -un)'
oexpect oci-cmd "a COMMAND replaces Cmd and keeps the Entrypoint" "hello, app"
ostart oci-ep --entrypoint /bin/id "$oci_image" -- -u
oexpect oci-ep "--entrypoint replaces the Entrypoint and clears Cmd" "1000"
ostart oci-over -e GREETING=bye -u 0 -w / "$oci_image"
oexpect oci-over "-e, -u and -w override Env, User and WorkingDir" "bye from / as 0
motd gone"
check "... nothing left behind" bash -c "! pgrep -x pupa-vmm > /dev/null && [ -z \"\$(ls -A '$TMPDIR')\" ]"

# The same image as a docker save archive, as skopeo writes one: its config applied.
skopeo copy -q "$oci_image" "docker-archive:$WORK/oci/saved.tar:demo/x:1" > "$WORK/oci-skopeo-da.log" 2>&1
ostart oci-da "docker-archive:$WORK/oci/saved.tar"
oexpect oci-da "docker-archive:FILE: the archive's Entrypoint+Cmd, Env, WorkingDir, User; its whiteout applied" \
	"hello from /srv as 1000
motd gone"
ostart oci-da-path -e GREETING=hi "$WORK/oci/saved.tar" -- 'echo $GREETING from $(pwd); ls /bin/busybox'
oexpect oci-da-path "a plain path to a docker save archive starts as that image, not as a root filesystem" \
	"hi from /srv
/bin/busybox"

# From a registry: Debian's docker-registry on this environment's loopback.
. "$top_srcdir/tests/tools/registry.sh"
if registry_start "$WORK/oci-registry"; then
	skopeo copy -q --dest-tls-verify=false "$oci_image" \
		"docker://127.0.0.1:$registry_port/test/img:1" > "$WORK/oci-skopeo.log" 2>&1
	ostart oci-registry "127.0.0.1:$registry_port/test/img:1"
	oexpect oci-registry "REGISTRY:PORT/NAME:TAG: pulled from the registry and run with its own config" \
		"hello from /srv as 1000
motd gone"
	registry_stop
else
	not_ok "docker-registry starts on 127.0.0.1 in the test environment"
fi

# The same behind token authentication: our token server signs the JWTs.
# pupa sends credentials to a plain-http realm only on the registry's own
# scheme, host and port (docs/security.md), so nginx on one port serves
# both, as a registry and its token service behind one front do: /token
# to tokend.py, the rest to docker-registry.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/oci/tk.key" -out "$WORK/oci/tk.crt" \
	-days 1 -subj /CN=pupa-test-token > /dev/null 2>&1
python3 "$top_srcdir/tests/tools/tokend.py" 127.0.0.1 "$WORK/oci/tokend.port" "$WORK/oci/tk.key" \
	"$WORK/oci/tk.crt" "$WORK/oci/tokend.log" &
tokend_pid=$!
for _ in $(seq 100); do [ -s "$WORK/oci/tokend.port" ] && break; sleep 0.1; done
front_port=$((20000 + RANDOM % 30000))
printf 'auth:\n  token:\n    realm: http://127.0.0.1:%s/token\n    service: pupa-test\n    issuer: pupa-test-issuer\n    rootcertbundle: %s\n' \
	"$front_port" "$WORK/oci/tk.crt" > "$WORK/oci/token.yml"
. "$top_srcdir/tests/tools/nginx.sh"
mkdir -p "$WORK/oci/front-root"
if registry_start "$WORK/oci-registry-token" "$WORK/oci/token.yml" &&
	NGINX_PORT=$front_port nginx_start "$WORK/oci/front-root" "$WORK/oci/front" "
		location /token { proxy_pass http://127.0.0.1:$(cat "$WORK/oci/tokend.port"); }
		location /v2/ { proxy_pass http://127.0.0.1:$registry_port; proxy_set_header Host \$http_host; }"; then
	skopeo copy -q --dest-tls-verify=false --dest-creds tester:s3cret "$oci_image" \
		"docker://127.0.0.1:$front_port/test/img:1" > "$WORK/oci-skopeo.log" 2>&1
	printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}' "$front_port" \
		"$(printf 'tester:s3cret' | base64)" > "$WORK/oci/auth.json"
	REGISTRY_AUTH_FILE=$WORK/oci/auth.json ostart oci-token "127.0.0.1:$front_port/test/img:1"
	oexpect oci-token "REGISTRY/NAME:TAG behind token authentication, credentials from REGISTRY_AUTH_FILE" \
		"hello from /srv as 1000
motd gone"
else
	not_ok "docker-registry with token authentication, and nginx in front, start in the test environment"
fi
nginx_stop
registry_stop
kill "$tokend_pid" 2> /dev/null
wait "$tokend_pid" 2> /dev/null
check "... nothing left behind" bash -c "! pgrep -x pupa-vmm > /dev/null && [ -z \"\$(ls -A '$TMPDIR')\" ]"
