# nginx on 127.0.0.1 for tests and benchmarks, as the calling user, all
# state under one folder. Source this file, then:
#   nginx_start ROOT STATEDIR [CONF]
#                               sets nginx_port and nginx_pid; logs requests
#                               to STATEDIR/access.log (uri status range inm
#                               ims bytes); CONF: more of the server block
#                               (locations, a proxy); NGINX_PORT set: that
#                               port (one try), else a free random one
#   nginx_stop
nginx_start() {
	local root=$1 dir=$2 conf=${3:-} try tries=5
	mkdir -p "$dir/tmp"
	[ -n "${NGINX_PORT:-}" ] && tries=1
	for try in $(seq $tries); do
		nginx_port=${NGINX_PORT:-$((20000 + RANDOM % 30000))}
		cat > "$dir/nginx.conf" <<-CONF
		daemon off; master_process off; worker_processes 1;
		pid $dir/nginx.pid;
		error_log $dir/error.log;
		events { worker_connections 64; }
		http {
			log_format t '\$request_uri \$status range=\$http_range inm=\$http_if_none_match ims=\$http_if_modified_since sent=\$body_bytes_sent';
			access_log $dir/access.log t;
			sendfile on;
			client_body_temp_path $dir/tmp; proxy_temp_path $dir/tmp;
			fastcgi_temp_path $dir/tmp; uwsgi_temp_path $dir/tmp; scgi_temp_path $dir/tmp;
			client_max_body_size 0;
			server { listen 127.0.0.1:$nginx_port; root $root; $conf }
		}
		CONF
		PATH=$PATH:/usr/sbin:/sbin nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" &
		nginx_pid=$!
		for _ in $(seq 50); do
			curl -s -o /dev/null "http://127.0.0.1:$nginx_port/" && return 0
			kill -0 "$nginx_pid" 2> /dev/null || break
			sleep 0.1
		done
		kill "$nginx_pid" 2> /dev/null
		wait "$nginx_pid" 2> /dev/null
	done
	echo "nginx did not start: $(tail -3 "$dir/error.log")" >&2
	return 1
}

nginx_stop() {
	[ -n "${nginx_pid:-}" ] && kill "$nginx_pid" 2> /dev/null && wait "$nginx_pid" 2> /dev/null
	nginx_pid=
}
