# Debian's docker-registry (the distribution project's registry) on
# 127.0.0.1 for tests and benchmarks, as the calling user, its storage and
# request log under one folder. Source this file, then:
#   registry_start STATEDIR [AUTH]
#                             sets registry_port and registry_pid; requests
#                             are logged to STATEDIR/log ("GET /v2/...");
#                             AUTH: a file with the config's auth: section,
#                             or lines that continue http: (tls:, probed
#                             over https then)
#   registry_stop
registry_start() {
	local dir=$1 auth=${2:-} try scheme=http
	[ -n "$auth" ] && grep -q '^  tls:' "$auth" && scheme=https
	mkdir -p "$dir/data"
	for try in 1 2 3 4 5; do
		registry_port=$((20000 + RANDOM % 30000))
		cat > "$dir/config.yml" <<-CONF
		version: 0.1
		log:
		  level: info
		  accesslog:
		    disabled: false
		storage:
		  filesystem:
		    rootdirectory: $dir/data
		  delete:
		    enabled: true
		http:
		  addr: 127.0.0.1:$registry_port
		CONF
		[ -z "$auth" ] || cat "$auth" >> "$dir/config.yml"
		docker-registry serve "$dir/config.yml" > "$dir/log" 2>&1 &
		registry_pid=$!
		for _ in $(seq 50); do
			curl -sk -o /dev/null -w '%{http_code}' "$scheme://127.0.0.1:$registry_port/v2/" |
				grep -q '200\|401' && return 0
			kill -0 "$registry_pid" 2> /dev/null || break
			sleep 0.1
		done
		kill "$registry_pid" 2> /dev/null
		wait "$registry_pid" 2> /dev/null
	done
	echo "docker-registry did not start: $(tail -3 "$dir/log")" >&2
	return 1
}

registry_stop() {
	[ -n "${registry_pid:-}" ] && kill "$registry_pid" 2> /dev/null && wait "$registry_pid" 2> /dev/null
	registry_pid=
}
