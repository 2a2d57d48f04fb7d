# shellcheck shell=bash
# Configuration files of the systems under test, written into the run's folder ($RUN_DIR).
# Sourced by bench/run.sh, never run.
# shellcheck disable=SC2153 # PORT, TLS_PORT and the other settings are set by bench/run.sh
#
# Every proxy is configured the same way: one worker, keep-alive to clients and to the
# backends, round robin over the two backends, no access log, plain HTTP on its port and TLS
# (the same ECDSA P-256 certificate for all) on its TLS port. The workers scenario's
# instances (NAME-w1, NAME-w2) have 1 and 2 workers and plain HTTP only.

# The certificate every TLS listener serves, made for this run.
write_certificate() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=bench.local -addext subjectAltName=DNS:bench.local,IP:127.0.0.1 \
        -keyout "$RUN_DIR/tls/key.pem" -out "$RUN_DIR/tls/cert.pem" 2>/dev/null ||
        die "openssl could not make the test certificate"
    cat "$RUN_DIR/tls/cert.pem" "$RUN_DIR/tls/key.pem" >"$RUN_DIR/tls/haproxy.pem"
}

# Lines shared by every NGINX config. $1 = the instance's folder, $2 = workers (1).
nginx_head() {
    cat <<EOF
worker_processes ${2:-1};
worker_rlimit_nofile $FD_LIMIT;
daemon off;
master_process on;
pid $1/nginx.pid;
error_log $1/error.log warn;
events {
    # counts client and upstream connections alike
    worker_connections $((FD_LIMIT - 1000));
}
http {
    access_log off;
    server_tokens off;
    default_type text/plain;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
    client_body_temp_path $1/tmp/client_body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
EOF
}

# The two backends: one NGINX (one worker) with two servers answering 200 "ok\n", and a
# 256 KiB file at /bulk (the bulk scenario: bodies that stream through the proxy).
write_backends_conf() {
    local dir=$RUN_DIR/backends
    mkdir -p "$dir/tmp" "$dir/www"
    head -c $((256 * 1024)) /dev/urandom >"$dir/www/bulk"
    {
        nginx_head "$dir"
        local port
        for port in "${BACKEND_PORTS[@]}"; do
            cat <<EOF
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / { return 200 "ok\n"; }
        location = /bulk { root $dir/www; }
    }
EOF
        done
        echo "}"
    } >"$dir/nginx.conf"
}

# write_nginx_conf NAME WORKERS: NGINX's config for system NAME, in $RUN_DIR/NAME/.
write_nginx_conf() {
    local name=$1 workers=$2 dir=$RUN_DIR/$1 listen
    listen="listen 127.0.0.1:${PORT[$name]} backlog=4096;"
    if [[ $name == nginx ]]; then
        listen+="
        listen 127.0.0.1:${TLS_PORT[nginx]} ssl http2 backlog=4096;
        listen 127.0.0.1:${H2C_PORT[nginx]} http2 backlog=4096;
        ssl_certificate $RUN_DIR/tls/cert.pem;
        ssl_certificate_key $RUN_DIR/tls/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;"
    fi
    mkdir -p "$dir/tmp"
    {
        nginx_head "$dir" "$workers"
        cat <<EOF
    upstream backends {
        # round robin is NGINX's default
        server 127.0.0.1:${BACKEND_PORTS[0]};
        server 127.0.0.1:${BACKEND_PORTS[1]};
        keepalive 1024;
        keepalive_requests 100000000;
        keepalive_timeout 300s;
    }
    server {
        $listen
        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    } >"$dir/nginx.conf"
}

# write_haproxy_cfg NAME THREADS: HAProxy's config for system NAME, $RUN_DIR/NAME.cfg.
write_haproxy_cfg() {
    local name=$1 threads=$2 binds
    # maxconn: the idle scenario holds $IDLE_CONNS client connections at once. HAProxy wants
    # 2 x maxconn descriptors, more than the limit allows; an idle client needs only one, so
    # 'no strict-limits' lets it start with the limit it has (and warn).
    local maxconn=$((IDLE_CONNS + 500))
    binds="bind 127.0.0.1:${PORT[$name]} backlog 4096"
    if [[ $name == haproxy ]]; then
        binds+="
    bind 127.0.0.1:${TLS_PORT[haproxy]} ssl crt $RUN_DIR/tls/haproxy.pem alpn h2,http/1.1 backlog 4096
    bind 127.0.0.1:${H2C_PORT[haproxy]} proto h2 backlog 4096"
    fi
    cat >"$RUN_DIR/$name.cfg" <<EOF
global
    nbthread $threads
    maxconn $maxconn
    no strict-limits
    ssl-default-bind-options ssl-min-ver TLSv1.2
    # no 'log' line: no logging

defaults
    mode http
    maxconn $maxconn
    option http-keep-alive
    # any idle connection to a backend serves any request, like NGINX's keepalive pool
    http-reuse always
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s
    timeout http-request 30s

frontend bench
    $binds
    default_backend backends

backend backends
    balance roundrobin
    server b1 127.0.0.1:${BACKEND_PORTS[0]}
    server b2 127.0.0.1:${BACKEND_PORTS[1]}
EOF
}

# write_ballast_toml NAME WORKERS EXTRA_TOML: Ballast's config for system NAME.
write_ballast_toml() {
    local name=$1 workers=$2 extra=$3
    cat >"$RUN_DIR/$name.toml" <<EOF
[server]
workers = $workers

[listeners.http]
bind = "127.0.0.1:${PORT[$name]}"
default_action = { forward = "backends" }

[listeners.https]
bind = "127.0.0.1:${TLS_PORT[$name]}"
protocol = "https"
default_action = { forward = "backends" }
tls = { certificates = [{ cert = "$RUN_DIR/tls/cert.pem", key = "$RUN_DIR/tls/key.pem" }] }

[target_groups.backends]
algorithm = "round_robin"
targets = ["127.0.0.1:${BACKEND_PORTS[0]}", "127.0.0.1:${BACKEND_PORTS[1]}"]
EOF
    if [[ -n $extra ]]; then printf '\n%s\n' "$extra" >>"$RUN_DIR/$name.toml"; fi
}

# The post scenario's requests: 1 KiB bodies, which arrive with their heads.
write_post_script() {
    cat >"$RUN_DIR/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = string.rep("x", 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
EOF
}

write_configs() {
    mkdir -p "$RUN_DIR/tls"
    write_post_script
    write_certificate
    write_backends_conf
    local n
    write_nginx_conf nginx 1
    write_haproxy_cfg haproxy 1
    write_ballast_toml ballast 1 "${BALLAST_EXTRA:-}"
    if [[ -n $BASELINE_BIN ]]; then write_ballast_toml baseline 1 "${BASELINE_EXTRA:-}"; fi
    for n in 1 2; do
        write_ballast_toml "ballast-w$n" "$n" "${BALLAST_EXTRA:-}"
        write_haproxy_cfg "haproxy-w$n" "$n"
        write_nginx_conf "nginx-w$n" "$n"
    done
}

# --- starting the systems -------------------------------------------------------------

# The binary each Ballast-like system runs.
ballast_bin_of() {
    case $1 in
        baseline) echo "$BASELINE_BIN" ;;
        *) echo "$BALLAST_BIN" ;;
    esac
}

# start_system NAME [CPUS]: starts one system (backends, ballast, baseline, haproxy, nginx,
# and the workers scenario's NAME-w1 and NAME-w2 of each proxy) and waits until it answers.
start_system() {
    local name=$1 cpus=${2:-$PROXY_CPU}
    case $name in
        backends)
            nginx -t -q -c "$RUN_DIR/backends/nginx.conf" -e "$RUN_DIR/backends/error.log" ||
                die "invalid backends config"
            spawn backends "$cpus" "$RUN_DIR/backends/stdout.log" \
                nginx -c "$RUN_DIR/backends/nginx.conf" -e "$RUN_DIR/backends/error.log"
            local port
            for port in "${BACKEND_PORTS[@]}"; do
                wait_ok backends "http://127.0.0.1:$port/" "$RUN_DIR/backends/error.log"
            done
            ;;
        ballast | baseline | ballast-w1 | ballast-w2)
            local bin
            bin=$(ballast_bin_of "$name")
            "$bin" check -c "$RUN_DIR/$name.toml" >/dev/null || die "invalid config $RUN_DIR/$name.toml"
            spawn "$name" "$cpus" "$RUN_DIR/$name.log" "$bin" run -c "$RUN_DIR/$name.toml" --log-level warn
            wait_ok "$name" "http://127.0.0.1:${PORT[$name]}/" "$RUN_DIR/$name.log"
            wait_ok "$name" "https://127.0.0.1:${TLS_PORT[$name]}/" "$RUN_DIR/$name.log"
            ;;
        haproxy | haproxy-w1 | haproxy-w2)
            local cfg=$RUN_DIR/$name.cfg
            haproxy -c -q -f "$cfg" 2>/dev/null || die "invalid config $cfg"
            # -db: foreground, no master: the one process holds the worker threads.
            spawn "$name" "$cpus" "$RUN_DIR/$name.log" haproxy -db -f "$cfg"
            wait_ok "$name" "http://127.0.0.1:${PORT[$name]}/" "$RUN_DIR/$name.log"
            [[ $name != haproxy ]] ||
                wait_ok haproxy "https://127.0.0.1:${TLS_PORT[haproxy]}/" "$RUN_DIR/haproxy.log"
            ;;
        nginx | nginx-w1 | nginx-w2)
            local dir=$RUN_DIR/$name
            nginx -t -q -c "$dir/nginx.conf" -e "$dir/error.log" || die "invalid config $dir/nginx.conf"
            spawn "$name" "$cpus" "$dir/stdout.log" nginx -c "$dir/nginx.conf" -e "$dir/error.log"
            wait_ok "$name" "http://127.0.0.1:${PORT[$name]}/" "$dir/error.log"
            [[ $name != nginx ]] ||
                wait_ok nginx "https://127.0.0.1:${TLS_PORT[nginx]}/" "$dir/error.log"
            ;;
        floor-epoll | floor-uring)
            # Every client connection relayed to the first backend, byte for byte.
            spawn "$name" "$cpus" "$RUN_DIR/$name.log" "$FLOOR_BIN" "${name#floor-}" \
                --listen "127.0.0.1:${PORT[$name]}" --target "127.0.0.1:${BACKEND_PORTS[0]}"
            wait_ok "$name" "http://127.0.0.1:${PORT[$name]}/" "$RUN_DIR/$name.log"
            ;;
        *) die "unknown system $name" ;;
    esac
    log "started $name (PID ${PID_OF[$name]}, CPU $cpus)"
}

# The PIDs whose CPU time and memory count as the system's: the process itself, or for
# NGINX (master + workers) the workers, which do all the work; the master's RSS would count
# pages it shares with the workers twice.
measured_pids() {
    local pid=${PID_OF[$1]}
    case $1 in
        nginx* | backends) children_of "$pid" | tr '\n' ' ' ;;
        *) echo "$pid" ;;
    esac
}

# Re-pins every thread of a running system (all its processes) to CPUS.
repin() {
    local name=$1 cpus=$2 pid
    for pid in $(proc_tree "${PID_OF[$name]}"); do
        taskset -a -p -c "$cpus" "$pid" >/dev/null || warn "cannot re-pin PID $pid of $name"
    done
}

# limit_workers NAME: the workers scenario's setting for system NAME (NAME-w1 or NAME-w2).
# Worker k runs only on the k-th CPU of ($PROXY_CPU $LOAD_CPU) and may use $WORKER_CPU_PCT%
# of it (a cgroup of its own), as if each worker had a slower core to itself; Ballast's
# other threads (control, admin) share the first worker's group and CPU.
limit_workers() {
    local name=$1 workers=${1##*-w} pid=${PID_OF[$1]} cpus=("$PROXY_CPU" "$LOAD_CPU")
    local tids=() others=() t k
    case $name in
        ballast-w*)
            for t in /proc/"$pid"/task/*; do
                if [[ $(<"$t/comm") == ballast-worker* ]]; then tids+=("${t##*/}"); else others+=("${t##*/}"); fi
            done
            ;;
        haproxy-w*) for t in /proc/"$pid"/task/*; do tids+=("${t##*/}"); done ;; # nbthread threads
        nginx-w*) read -r -a tids <<<"$(measured_pids "$name")" ;; # worker processes
        *) die "limit_workers: no workers scenario instance: $name" ;;
    esac
    ((${#tids[@]} == workers)) || die "$name: expected $workers worker(s), found ${#tids[@]} (${tids[*]})"
    for ((k = 0; k < workers; k++)); do
        limit_cpu "ballast-bench-$STAMP-$name-$k" "$WORKER_CPU_PCT" "${tids[k]}"
        taskset -p -c "${cpus[k]}" "${tids[k]}" >/dev/null || die "cannot pin $name's worker ${tids[k]}"
    done
    if ((${#others[@]})); then
        limit_cpu "ballast-bench-$STAMP-$name-0" "$WORKER_CPU_PCT" "${others[@]}"
        for t in "${others[@]}"; do taskset -p -c "${cpus[0]}" "$t" >/dev/null || die "cannot pin $name's thread $t"; done
    fi
    log "$name: $workers worker(s), each on its own CPU (${cpus[*]:0:workers}) with $WORKER_CPU_PCT% of it"
}
