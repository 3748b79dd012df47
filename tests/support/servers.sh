#!/usr/bin/env bash
# Starts, stops and reports local AWS stand-ins for the tests, on loopback only.
#
#   tests/support/servers.sh start localstack|moto    # prints http://127.0.0.1:PORT (its only stdout output)
#   tests/support/servers.sh stop localstack|moto|all
#   tests/support/servers.sh status localstack|moto   # prints the endpoint; exit 0 if healthy, 1 otherwise
#   tests/support/servers.sh endpoint localstack|moto # prints the endpoint of a running server; exit 1 if none
#
# localstack: localstack-core 4.4.0 in host mode (CloudFormation, API Gateway, SQS, IAM, S3, STS, Logs).
# moto:       moto_server (CodeBuild, WAFv2 and the other moto-backed APIs), through moto_server.py,
#             which keeps finished CodeBuild builds as they ended (see that file).
#
# The venvs come from tests/support/venv.sh (cached under ${BOTPUB_CACHE:-$HOME/.cache/botpub}/venvs).
# Each server keeps its state in ${BOTPUB_CACHE:-$HOME/.cache/botpub}/servers/NAME/: pid, port, server.log
# (plus LocalStack's scratch file system, wiped at every start). A running, healthy server is reused.
#
# Environment:
#   BOTPUB_LOCALSTACK_PORT / BOTPUB_MOTO_PORT   fixed port (default: a free loopback port)
#   BOTPUB_LOCALSTACK_SERVICES                  SERVICES for LocalStack (default below)
#   BOTPUB_SERVER_TIMEOUT                       seconds to wait for health (default 120)
#   BOTPUB_CACHE                                cache root (default $HOME/.cache/botpub)
#   BOTPUB_SERVER_INSTANCE                      a name for a second, third... set of servers (state under
#                                               servers/NAME-INSTANCE/): test jobs run side by side each
#                                               get their own LocalStack, whose CloudFormation runs one stack
#                                               operation at a time
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${BOTPUB_CACHE:-$HOME/.cache/botpub}
timeout_s=${BOTPUB_SERVER_TIMEOUT:-120}
ls_services=${BOTPUB_LOCALSTACK_SERVICES:-cloudformation,apigateway,sqs,iam,s3,sts,logs,cloudwatch,sns,kms,route53}

die() { echo "servers.sh: $*" >&2; exit 1; }
log() { echo "servers.sh: $*" >&2; }

usage() {
  sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

check_name() {
  case "${1:-}" in
    localstack|moto) ;;
    *) die "unknown server '${1:-}' (expected localstack or moto)" ;;
  esac
}

instance=${BOTPUB_SERVER_INSTANCE:-}
state_dir() { echo "$cache/servers/$1${instance:+-$instance}"; }

read_pid() { local f; f="$(state_dir "$1")/pid"; [ -f "$f" ] && cat "$f" || true; }
read_port() { local f; f="$(state_dir "$1")/port"; [ -f "$f" ] && cat "$f" || true; }

# The process exists and is not a zombie.
running() {
  local pid=${1:-} state
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  [ -r "/proc/$pid/stat" ] || return 0   # no procfs: trust kill -0
  state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ "$state" != Z ]
}

# A recorded pid is still our server: running, and still running the server (guards against pid reuse).
alive() {
  running "${1:-}" || return 1
  [ -r "/proc/$1/cmdline" ] || return 0
  tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -Eq 'localstack_main\.py|moto_server'
}

# Health check of a server answering on PORT.
healthy() {
  local name=$1 port=$2 body svc code
  [ -n "$port" ] || return 1
  case "$name" in
    localstack)
      body=$(curl -s --max-time 3 "http://127.0.0.1:$port/_localstack/health" 2>/dev/null) || return 1
      # every requested service must be listed as available (lazily loaded) or running
      for svc in ${ls_services//,/ }; do
        printf '%s' "$body" | grep -Eq "\"$svc\": *\"(available|running)\"" || return 1
      done
      ;;
    moto)
      # any HTTP answer will do
      code=$(curl -s -o /dev/null --max-time 3 -w '%{http_code}' "http://127.0.0.1:$port/" 2>/dev/null) || true
      [ -n "$code" ] && [ "$code" != 000 ] || return 1
      ;;
  esac
}

# Requested LocalStack services that its health endpoint does not list at all (not provided by this build).
ls_unknown_services() {
  local port=$1 body svc
  body=$(curl -s --max-time 3 "http://127.0.0.1:$port/_localstack/health" 2>/dev/null) || return 0
  for svc in ${ls_services//,/ }; do
    printf '%s' "$body" | grep -q "\"$svc\":" || printf '%s ' "$svc"
  done
}

free_port() {
  python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

port_in_use() {
  python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
finally:
    s.close()
sys.exit(1)
EOF
}

# Kills the server's process group (it is started as a session leader), waits, then forgets it.
stop_one() {
  local name=$1 dir pid i
  dir=$(state_dir "$name")
  pid=$(read_pid "$name")
  if alive "$pid"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do   # up to 20 s for a clean shutdown
      alive "$pid" || break
      sleep 0.2
    done
    if alive "$pid"; then
      log "$name (pid $pid) did not stop on SIGTERM; sending SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
    log "stopped $name (pid $pid)"
  fi
  rm -f "$dir/pid" "$dir/port"
}

fail_start() {
  local name=$1 msg=$2 logf
  logf="$(state_dir "$name")/server.log"
  log "$msg"
  if [ -f "$logf" ]; then
    echo "---- last 40 lines of $logf ----" >&2
    tail -n 40 "$logf" >&2
    echo "----" >&2
  fi
  stop_one "$name" 2>/dev/null || true
  exit 1
}

start_one() {
  local name=$1 dir venv port pid requested start_ts deadline logf unknown
  dir=$(state_dir "$name")
  mkdir -p "$dir"
  logf="$dir/server.log"

  # one starter at a time per server (parallel test processes may all call start)
  exec 9>"$dir/lock"
  flock -w $((timeout_s + 60)) 9 || die "timed out waiting for the lock on $dir/lock"

  case "$name" in
    localstack) requested=${BOTPUB_LOCALSTACK_PORT:-} ;;
    moto) requested=${BOTPUB_MOTO_PORT:-} ;;
  esac

  pid=$(read_pid "$name")
  port=$(read_port "$name")
  if alive "$pid"; then
    if [ -n "$requested" ] && [ "$requested" != "$port" ]; then
      die "$name is already running on port $port (pid $pid), not on the requested port $requested; run '$0 stop $name' first"
    fi
    if healthy "$name" "$port"; then
      echo "http://127.0.0.1:$port"
      return 0
    fi
    log "$name (pid $pid) is running but not healthy; restarting it"
    stop_one "$name"
  elif [ -n "$pid" ]; then
    log "removing stale pid file for $name (pid $pid is gone)"
    rm -f "$dir/pid" "$dir/port"
  fi

  case "$name" in
    localstack) venv=$("$here/venv.sh" localstack "$here/localstack-requirements.txt" --no-deps) ;;
    moto) venv=$("$here/venv.sh" moto "$here/moto-requirements.txt" --no-deps) ;;
  esac

  if [ -n "$requested" ]; then
    port=$requested
    if port_in_use "$port"; then
      die "port $port (from BOTPUB_${name^^}_PORT) is already in use on 127.0.0.1"
    fi
  else
    port=$(free_port)
  fi

  : >"$logf"
  start_ts=$(date +%s)
  case "$name" in
    localstack)
      rm -rf "$dir/fs" "$dir/volume"
      mkdir -p "$dir/fs" "$dir/volume"
      # OVERRIDE_IN_DOCKER=0: this machine has /.dockerenv, which would otherwise make LocalStack use the
      #   shared /tmp/localstack and /var/lib/localstack and probe the Docker bridge (172.17.0.1) at import.
      # DOCKER_BRIDGE_IP: skips that bridge probe in any case.
      # DNS_ADDRESS=0: no DNS server (it would bind 0.0.0.0:53 and forward queries upstream).
      # DISABLE_EVENTS=1: no analytics. SKIP_SSL_CERT_DOWNLOAD=1: self-signed cert, no download.
      # LOCALSTACK_HOST / SQS_ENDPOINT_STRATEGY=path: URLs in responses (queue URLs...) point at 127.0.0.1:PORT.
      # GATEWAY_SERVER=hypercorn: the default (twisted) server ignores the host of GATEWAY_LISTEN and binds 0.0.0.0.
      # localstack_main.py: LocalStack's own entry point, without a source lookup that cost most of its CPU.
      # SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL=5: SQS reports its queue metrics to CloudWatch every 5 s
      #   (LocalStack's default is 60 s), so an alarm on the dead-letter queue reacts within one alarm period.
      (
        cd "$dir"
        exec 9>&-
        exec env \
          GATEWAY_LISTEN="127.0.0.1:$port" \
          LOCALSTACK_HOST="127.0.0.1:$port" \
          SERVICES="$ls_services" \
          LOCALSTACK_VOLUME_DIR="$dir/volume" \
          FILESYSTEM_ROOT="$dir/fs" \
          OVERRIDE_IN_DOCKER=0 \
          DOCKER_BRIDGE_IP=127.0.0.1 \
          DNS_ADDRESS=0 \
          DISABLE_EVENTS=1 \
          SKIP_SSL_CERT_DOWNLOAD=1 \
          SQS_ENDPOINT_STRATEGY=path \
          SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL=5 \
          GATEWAY_SERVER=hypercorn \
          EAGER_SERVICE_LOADING=0 \
          AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
          setsid "$venv/bin/python" "$here/localstack_main.py"
      ) </dev/null >>"$logf" 2>&1 &
      ;;
    moto)
      (
        cd "$dir"
        exec 9>&-
        exec env AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
          setsid "$venv/bin/python" "$here/moto_server.py" -H 127.0.0.1 -p "$port"
      ) </dev/null >>"$logf" 2>&1 &
      ;;
  esac
  pid=$!
  echo "$pid" >"$dir/pid"
  echo "$port" >"$dir/port"

  deadline=$((start_ts + timeout_s))
  while :; do
    if ! running "$pid"; then
      fail_start "$name" "$name exited during startup (see $logf)"
    fi
    if healthy "$name" "$port"; then
      if [ "$name" != localstack ] || grep -q '^Ready\.' "$logf"; then
        break
      fi
    elif [ "$name" = localstack ] && grep -q '^Ready\.' "$logf"; then
      unknown=$(ls_unknown_services "$port")
      if [ -n "$unknown" ]; then
        fail_start "$name" "LocalStack does not provide the requested service(s): $unknown(SERVICES=$ls_services)"
      fi
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      fail_start "$name" "$name did not become healthy on 127.0.0.1:$port within ${timeout_s}s (see $logf)"
    fi
    sleep 0.5
  done
  log "$name up on 127.0.0.1:$port (pid $pid) after $(( $(date +%s) - start_ts ))s; log: $logf"
  echo "http://127.0.0.1:$port"
}

cmd=${1:-}
case "$cmd" in
  start)
    check_name "${2:-}"
    start_one "$2"
    ;;
  stop)
    case "${2:-}" in
      # every instance's
      all)
        for dir in "$cache"/servers/localstack "$cache"/servers/localstack-* "$cache"/servers/moto "$cache"/servers/moto-*; do
          [ -d "$dir" ] || continue
          server=$(basename "$dir")
          case "$server" in *-*) instance=${server#*-} ;; *) instance= ;; esac
          stop_one "${server%%-*}"
        done
        ;;
      *) check_name "${2:-}"; stop_one "$2" ;;
    esac
    ;;
  status)
    check_name "${2:-}"
    pid=$(read_pid "$2"); port=$(read_port "$2")
    if alive "$pid" && healthy "$2" "$port"; then
      echo "http://127.0.0.1:$port"
      exit 0
    fi
    if alive "$pid"; then
      log "$2 is running (pid $pid, port ${port:-?}) but not healthy"
    else
      log "$2 is not running"
    fi
    exit 1
    ;;
  endpoint)
    check_name "${2:-}"
    pid=$(read_pid "$2"); port=$(read_port "$2")
    alive "$pid" && [ -n "$port" ] || die "$2 is not running"
    echo "http://127.0.0.1:$port"
    ;;
  *) usage ;;
esac
