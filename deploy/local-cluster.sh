#!/usr/bin/env bash
# A local stand-in of Strata's scale-out cluster, all on 127.0.0.1, no Docker:
# PostgreSQL (Debian's cluster), Redis (own instance, :6390), moto's S3 server (:9100),
# Trino 476 with the Iceberg JDBC catalog (:8085) and N Celery run workers.
#
#   deploy/local-cluster.sh up [--workers N]   start or reuse everything (N defaults to 2)
#   deploy/local-cluster.sh down [--purge]     stop workers, Trino, moto, Redis (PostgreSQL stays up;
#                                              --purge also drops the role, databases and state dir)
#   deploy/local-cluster.sh env                print the settings of the running cluster again
#
# Progress goes to stderr; `up` and `env` print `export NAME='value'` lines on stdout, also kept in
# $STATE/env (mode 600). Use it as:  eval "$(deploy/local-cluster.sh up)"
# STATE is ${STRATA_CLUSTER_DIR:-<project>/.cluster}; downloads are cached in
# ${STRATA_CLUSTER_CACHE:-$HOME/.cache/strata}. See deploy/README.md.
set -euo pipefail

PROJECT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${STRATA_CLUSTER_DIR:-$PROJECT/.cluster}
CACHE=${STRATA_CLUSTER_CACHE:-$HOME/.cache/strata}
VENV=$PROJECT/.venv
MAVEN_REPO=${STRATA_MAVEN_REPO:-https://repo.maven.apache.org/maven2}

HOST=127.0.0.1
REDIS_PORT=6390
S3_PORT=9100
TRINO_PORT=8085
TRINO_VERSION=476
TRINO_READY_TIMEOUT=${STRATA_TRINO_READY_TIMEOUT:-240}
S3_REGION=us-east-1
BUCKET=strata
CATALOG_NAME=strata # PyIceberg's SqlCatalog name = Trino's iceberg.jdbc-catalog.catalog-name
PG_ROLE=strata_cluster
DATABASES=(strata strata_dagster strata_catalog strata_mlflow)

# boto3 against moto: no default checksums (see shared/LIBRARY-NOTES.md, moto).
export AWS_REQUEST_CHECKSUM_CALCULATION=when_required
export AWS_RESPONSE_CHECKSUM_VALIDATION=when_required

log() { printf '[local-cluster] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
now() { date +%s; }

usage() {
  sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# --- helpers ---------------------------------------------------------------------------------

gen_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# pid_alive PIDFILE PATTERN: the pid in PIDFILE runs and its command line contains PATTERN
# (so a recycled pid is never mistaken for ours).
pid_alive() {
  local pid
  [[ -s $1 ]] || return 1
  pid=$(<"$1")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2"
}

# stop_pid PIDFILE PATTERN NAME [SECONDS]: SIGTERM (to its process group when it leads one),
# SIGKILL after SECONDS (default 10).
stop_pid() {
  local file=$1 pattern=$2 name=$3 wait=${4:-10} pid target i
  if ! pid_alive "$file" "$pattern"; then
    rm -f "$file"
    return 0
  fi
  pid=$(<"$file")
  target=$pid
  [[ $(ps -o pgid= -p "$pid" | tr -d ' ') == "$pid" ]] && target=-$pid
  log "stopping $name (pid $pid)"
  kill -TERM -- "$target" 2>/dev/null || true
  for ((i = 0; i < wait * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop in ${wait}s: SIGKILL"
    kill -KILL -- "$target" 2>/dev/null || true
  fi
  rm -f "$file"
}

# wait_port PORT SECONDS [PIDFILE]: 0 once PORT listens; 1 after SECONDS, or as soon as the
# process in PIDFILE is gone. Only its existence is checked: just after `cmd &` the child may
# not have exec'd its program yet, so its command line is still this script's.
wait_port() {
  local i pid=
  [[ -n ${3:-} ]] && pid=$(<"$3")
  for ((i = 0; i < $2 * 10; i++)); do
    port_open "$1" && return 0
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.1
  done
  return 1
}

apt_install() {
  log "installing Debian packages: $*"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 "$@" >&2
}

venv_python() { "$VENV/bin/python" "$@"; }

ensure_venv() {
  [[ -x $VENV/bin/python && -x $VENV/bin/moto_server ]] && return 0
  log "project venv missing: make env"
  command -v make >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null ||
    apt_install make python3 python3-venv
  make -C "$PROJECT" env >&2
  [[ -x $VENV/bin/moto_server ]] || die "$VENV/bin/moto_server missing after make env (moto[server] is a dev dependency)"
}

load_secrets() {
  mkdir -p "$STATE"
  chmod 700 "$STATE"
  if [[ ! -s $STATE/secrets ]]; then
    log "generating credentials into $STATE/secrets"
    (
      umask 077
      cat >"$STATE/secrets.new" <<EOF
PG_PASSWORD=$(gen_hex 16)
REDIS_PASSWORD=$(gen_hex 16)
S3_ACCESS_KEY_ID=STRATA$(gen_hex 7 | tr a-f A-F)
S3_SECRET_ACCESS_KEY=$(gen_hex 20)
EOF
      mv "$STATE/secrets.new" "$STATE/secrets"
    )
  fi
  # shellcheck disable=SC1091
  source "$STATE/secrets"
}

# --- PostgreSQL (Debian's packaged cluster `main`) -----------------------------------------

PG_PORT=
pg_version() { ls /usr/lib/postgresql | sort -V | tail -n 1; }

psql_admin() { # SQL on stdin, as the postgres superuser
  (cd / && runuser -u postgres -- psql -X -q -p "$PG_PORT" -d postgres -v ON_ERROR_STOP=1 "$@") >&2
}

start_postgres() {
  if ! compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; then
    apt_install postgresql
  fi
  local version
  version=$(pg_version)
  if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {f = 1} END {exit !f}'; then
    log "creating PostgreSQL $version cluster main"
    pg_createcluster "$version" main >&2
  fi
  if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" && $4 ~ /online/ {f = 1} END {exit !f}'; then
    log "starting PostgreSQL $version main"
    pg_ctlcluster "$version" main start >&2
  fi
  PG_PORT=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')
  log "PostgreSQL $version main on port $PG_PORT; role $PG_ROLE"
  # CREATEDB: the scale-out tests (tests/scaleout) make throwaway databases of their own.
  psql_admin <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
    CREATE ROLE $PG_ROLE LOGIN CREATEDB;
  END IF;
END \$\$;
ALTER ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
SQL
}

# ensure_databases RESET: create the four databases (dropping them first when RESET=1)
ensure_databases() {
  local list
  list=$(printf "'%s'," "${DATABASES[@]}")
  list=${list%,}
  if [[ $1 == 1 ]]; then
    psql_admin <<SQL
SELECT format('DROP DATABASE %I WITH (FORCE)', datname) FROM pg_database
 WHERE datname IN ($list) \gexec
SQL
  fi
  psql_admin <<SQL
SELECT format('CREATE DATABASE %I OWNER $PG_ROLE', d) FROM unnest(ARRAY[$list]) AS d
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d) \gexec
SQL
}

databases_exist() {
  local n list
  list=$(printf "'%s'," "${DATABASES[@]}")
  n=$(cd / && runuser -u postgres -- psql -X -At -p "$PG_PORT" -d postgres \
    -c "SELECT count(*) FROM pg_database WHERE datname IN (${list%,})")
  [[ $n != 0 ]]
}

# --- Redis (own instance; a system redis on 6379 is left alone) -----------------------------

redis_ping() {
  REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG
}

start_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  local dir=$STATE/redis
  mkdir -p "$dir"
  (
    umask 077
    # In memory only, like moto's S3: the cluster's broker state lives until `down`.
    cat >"$dir/redis.conf" <<EOF
bind $HOST
port $REDIS_PORT
protected-mode yes
requirepass $REDIS_PASSWORD
daemonize yes
pidfile $dir/redis.pid
logfile $dir/redis.log
dir $dir
save ""
appendonly no
EOF
  )
  if pid_alive "$dir/redis.pid" redis-server && redis_ping; then
    log "Redis on $HOST:$REDIS_PORT already running"
    return 0
  fi
  stop_pid "$dir/redis.pid" redis-server redis
  port_open "$REDIS_PORT" && die "port $REDIS_PORT is taken by a process this script did not start"
  log "starting Redis on $HOST:$REDIS_PORT"
  redis-server "$dir/redis.conf" >&2
  local i
  for ((i = 0; i < 100; i++)); do
    redis_ping && return 0
    sleep 0.1
  done
  tail -n 20 "$dir/redis.log" >&2 || true
  die "Redis did not answer on $HOST:$REDIS_PORT"
}

# --- moto's S3 server ----------------------------------------------------------------------

S3_FRESH=0 # 1 when the bucket had to be created: the object store is empty

start_moto() {
  local pidf=$STATE/moto.pid
  if pid_alive "$pidf" moto_server && port_open "$S3_PORT"; then
    log "moto S3 on $HOST:$S3_PORT already running"
  else
    stop_pid "$pidf" moto_server moto
    port_open "$S3_PORT" && die "port $S3_PORT is taken by a process this script did not start"
    log "starting moto S3 on $HOST:$S3_PORT"
    setsid "$VENV/bin/moto_server" -H "$HOST" -p "$S3_PORT" >>"$STATE/moto.log" 2>&1 </dev/null &
    echo $! >"$pidf"
    # a fresh environment compiles moto's many modules on its first start
    if ! wait_port "$S3_PORT" 180 "$pidf"; then
      tail -n 20 "$STATE/moto.log" >&2 || true
      die "moto did not listen on $HOST:$S3_PORT"
    fi
  fi
  local made
  made=$(STRATA_S3_ACCESS_KEY_ID=$S3_ACCESS_KEY_ID STRATA_S3_SECRET_ACCESS_KEY=$S3_SECRET_ACCESS_KEY \
    venv_python - "http://$HOST:$S3_PORT" "$S3_REGION" "$BUCKET" <<'PY'
import os, sys
import boto3
endpoint, region, bucket = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region,
                  aws_access_key_id=os.environ["STRATA_S3_ACCESS_KEY_ID"],
                  aws_secret_access_key=os.environ["STRATA_S3_SECRET_ACCESS_KEY"])
if bucket in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
    print("exists")
else:
    s3.create_bucket(Bucket=bucket)
    print("created")
PY
  )
  if [[ $made == created ]]; then
    S3_FRESH=1
    log "created bucket s3://$BUCKET"
  else
    log "bucket s3://$BUCKET exists"
  fi
}

# --- Iceberg catalog tables (PyIceberg creates them; Trino never does) ------------------------

init_catalog() {
  log "ensuring the Iceberg SQL catalog tables in strata_catalog (PyIceberg)"
  STRATA_CATALOG_URL=$(catalog_url) STRATA_S3_ACCESS_KEY_ID=$S3_ACCESS_KEY_ID \
    STRATA_S3_SECRET_ACCESS_KEY=$S3_SECRET_ACCESS_KEY \
    venv_python - "$CATALOG_NAME" "s3://$BUCKET/warehouse" "http://$HOST:$S3_PORT" "$S3_REGION" >&2 <<'PY'
import os, sys
from pyiceberg.catalog.sql import SqlCatalog
name, warehouse, endpoint, region = sys.argv[1:5]
SqlCatalog(name, uri=os.environ["STRATA_CATALOG_URL"], warehouse=warehouse,
           init_catalog_tables="true",
           **{"s3.endpoint": endpoint, "s3.region": region,
              "s3.access-key-id": os.environ["STRATA_S3_ACCESS_KEY_ID"],
              "s3.secret-access-key": os.environ["STRATA_S3_SECRET_ACCESS_KEY"]})
PY
}

# --- Trino ---------------------------------------------------------------------------------

TRINO_HOME=$STATE/trino
TRINO_DATA=$STATE/trino-data
TRINO_JAVA=

find_java() {
  local cand v
  for cand in "${STRATA_TRINO_JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
    [[ -n $cand && -x $cand/bin/java ]] || continue
    v=$("$cand/bin/java" -XshowSettings:properties -version 2>&1 |
      awk -F' = ' '/java.specification.version/ {print $2}')
    if [[ ${v%%.*} =~ ^[0-9]+$ ]] && ((${v%%.*} >= 24)); then
      TRINO_JAVA=$cand
      return 0
    fi
  done
  die "Trino $TRINO_VERSION needs Java 24 or newer; none under /usr/lib/jvm (set STRATA_TRINO_JAVA_HOME)"
}

# fetch ARTIFACT EXT: io.trino:ARTIFACT:476 from Maven Central into the cache, sha1-checked, once
fetch_trino_artifact() {
  local artifact=$1 ext=$2 dir=$CACHE/trino file url sum
  file=$artifact-$TRINO_VERSION.$ext
  url=$MAVEN_REPO/io/trino/$artifact/$TRINO_VERSION/$file
  mkdir -p "$dir"
  if [[ ! -s $dir/$file ]]; then
    log "downloading $url"
    curl -fSL --retry 3 --progress-bar -o "$dir/$file.part" "$url"
    mv "$dir/$file.part" "$dir/$file"
    rm -f "$dir/$file.verified"
  fi
  if [[ ! -e $dir/$file.verified ]]; then
    sum=$(curl -fsSL --retry 3 "$url.sha1" | awk '{print $1}')
    [[ $(sha1sum "$dir/$file" | awk '{print $1}') == "$sum" ]] ||
      {
        rm -f "$dir/$file"
        die "$file does not match Maven Central's sha1; removed, run again"
      }
    echo "$sum" >"$dir/$file.verified"
  fi
  printf '%s\n' "$dir/$file"
}

install_trino() {
  [[ -f $TRINO_HOME/.installed && $(<"$TRINO_HOME/.installed") == "$TRINO_VERSION" ]] && return 0
  local server plugin tmp=$STATE/trino.new
  command -v unzip >/dev/null || apt_install unzip
  server=$(fetch_trino_artifact trino-server-core tar.gz)
  plugin=$(fetch_trino_artifact trino-iceberg zip)
  log "unpacking Trino $TRINO_VERSION into $TRINO_HOME"
  rm -rf "$tmp" "$TRINO_HOME"
  mkdir -p "$tmp"
  tar -xzf "$server" -C "$tmp" --strip-components=1
  # The zip holds one folder trino-iceberg-476/ with the jars: it becomes plugin/iceberg/.
  unzip -q "$plugin" -d "$tmp/plugin"
  mv "$tmp/plugin/trino-iceberg-$TRINO_VERSION" "$tmp/plugin/iceberg"
  echo "$TRINO_VERSION" >"$tmp/.installed"
  mv "$tmp" "$TRINO_HOME"
}

TRINO_CONFIG_CHANGED=0
put_file() { # PATH: stdin into PATH (mode 600) unless unchanged
  local path=$1
  (
    umask 077
    cat >"$path.new"
  )
  if [[ -f $path ]] && cmp -s "$path.new" "$path"; then
    rm -f "$path.new"
  else
    mv "$path.new" "$path"
    TRINO_CONFIG_CHANGED=1
  fi
}

write_trino_config() {
  local etc=$TRINO_HOME/etc
  mkdir -p "$etc/catalog" "$TRINO_DATA"
  put_file "$etc/node.properties" <<EOF
node.environment=strata
node.id=strata-local
node.data-dir=$TRINO_DATA
node.internal-address=$HOST
node.bind-ip=$HOST
EOF
  # Trino's own recommendations (core/docker/default/etc/jvm.config, deployment docs), 2 GB heap.
  put_file "$etc/jvm.config" <<EOF
-server
-Xmx2G
-XX:+UseG1GC
-XX:+ExplicitGCInvokesConcurrent
-XX:+ExitOnOutOfMemoryError
-XX:-OmitStackTraceInFastThrow
-XX:ReservedCodeCacheSize=256M
-XX:PerMethodRecompilationCutoff=10000
-XX:PerBytecodeRecompilationCutoff=10000
-Djdk.attach.allowAttachSelf=true
-Djdk.nio.maxCachedBufferSize=2000000
-Dfile.encoding=UTF-8
-XX:+EnableDynamicAgentLoading
-XX:+UnlockDiagnosticVMOptions
-XX:G1NumCollectionsKeepPinned=10000000
EOF
  # Single node on 2 cores: per-node query memory + heap headroom stay under the 2 GB heap.
  put_file "$etc/config.properties" <<EOF
coordinator=true
node-scheduler.include-coordinator=true
http-server.http.port=$TRINO_PORT
discovery.uri=http://$HOST:$TRINO_PORT
query.max-memory=1GB
query.max-memory-per-node=1GB
query.max-total-memory=1GB
memory.heap-headroom-per-node=512MB
task.concurrency=2
EOF
  put_file "$etc/log.properties" <<EOF
io.trino=INFO
EOF
  put_file "$etc/catalog/iceberg.properties" <<EOF
connector.name=iceberg
iceberg.catalog.type=jdbc
iceberg.jdbc-catalog.catalog-name=$CATALOG_NAME
iceberg.jdbc-catalog.driver-class=org.postgresql.Driver
iceberg.jdbc-catalog.connection-url=jdbc:postgresql://$HOST:$PG_PORT/strata_catalog
iceberg.jdbc-catalog.connection-user=$PG_ROLE
iceberg.jdbc-catalog.connection-password=$PG_PASSWORD
iceberg.jdbc-catalog.default-warehouse-dir=s3://$BUCKET/warehouse
iceberg.jdbc-catalog.schema-version=V1
fs.native-s3.enabled=true
s3.endpoint=http://$HOST:$S3_PORT
s3.region=$S3_REGION
s3.path-style-access=true
s3.aws-access-key=$S3_ACCESS_KEY_ID
s3.aws-secret-key=$S3_SECRET_ACCESS_KEY
EOF
}

trino_launcher() {
  JAVA_HOME=$TRINO_JAVA PATH=$TRINO_JAVA/bin:$PATH "$TRINO_HOME/bin/launcher" \
    --etc-dir="$TRINO_HOME/etc" --data-dir="$TRINO_DATA" --pid-file="$TRINO_DATA/launcher.pid" \
    --launcher-log-file="$TRINO_DATA/launcher.log" --server-log-file="$TRINO_DATA/server.log" "$@"
}

trino_running() { trino_launcher status >/dev/null 2>&1; }
trino_ready() { curl -fsS "http://$HOST:$TRINO_PORT/v1/info" 2>/dev/null | grep -q '"starting":false'; }

start_trino() {
  local t0 i
  find_java
  install_trino
  write_trino_config
  if trino_running; then
    if ((TRINO_CONFIG_CHANGED)); then
      log "Trino configuration changed: restarting"
      trino_launcher stop >&2
    elif trino_ready; then
      log "Trino on $HOST:$TRINO_PORT already running"
      return 0
    fi
  fi
  if ! trino_running; then
    port_open "$TRINO_PORT" && die "port $TRINO_PORT is taken by a process this script did not start"
    log "starting Trino $TRINO_VERSION on $HOST:$TRINO_PORT (Java: $TRINO_JAVA)"
    trino_launcher start >&2
  fi
  t0=$(now)
  for ((i = 0; i < TRINO_READY_TIMEOUT; i++)); do
    if trino_ready; then
      log "Trino ready after $(($(now) - t0))s"
      # server.log links to this start's own log file.
      if ! grep -q 'Added catalog iceberg using connector iceberg' "$TRINO_DATA/server.log" 2>/dev/null; then
        log "warning: no 'Added catalog iceberg' in $TRINO_DATA/server.log"
      fi
      return 0
    fi
    if ! trino_running; then
      tail -n 40 "$TRINO_DATA/server.log" >&2 || true
      die "Trino exited while starting; see $TRINO_DATA/server.log"
    fi
    sleep 1
  done
  tail -n 40 "$TRINO_DATA/server.log" >&2 || true
  die "Trino not ready after ${TRINO_READY_TIMEOUT}s; see $TRINO_DATA/server.log"
}

# --- Celery workers ------------------------------------------------------------------------

WORKER_PATTERN=pipelines.celery_worker

start_workers() {
  local n=$1 dir=$STATE/workers i f idx
  mkdir -p "$dir"
  for f in "$dir"/worker-*.pid; do # fewer workers asked for than run: stop the extra ones
    [[ -e $f ]] || continue
    idx=${f##*/worker-}
    idx=${idx%.pid}
    [[ $idx =~ ^[0-9]+$ ]] && ((idx > n)) && stop_pid "$f" "$WORKER_PATTERN" "worker-$idx"
  done
  ((n > 0)) || return 0
  if [[ ! -f $PROJECT/pipelines/celery_worker.py ]]; then
    log "warning: $PROJECT/pipelines/celery_worker.py does not exist: no Celery workers started"
    return 0
  fi
  local -a envargs
  mapfile -t envargs < <(cluster_env)
  for ((i = 1; i <= n; i++)); do
    f=$dir/worker-$i.pid
    if pid_alive "$f" "$WORKER_PATTERN"; then
      log "worker-$i already running (pid $(<"$f"))"
      continue
    fi
    log "starting worker-$i"
    (
      cd "$PROJECT"
      exec setsid env "${envargs[@]}" "$VENV/bin/python" -m "$WORKER_PATTERN" --name "worker-$i"
    ) >>"$dir/worker-$i.log" 2>&1 </dev/null &
    echo $! >"$f"
  done
  sleep 3
  for ((i = 1; i <= n; i++)); do
    if ! pid_alive "$dir/worker-$i.pid" "$WORKER_PATTERN"; then
      tail -n 20 "$dir/worker-$i.log" >&2 || true
      die "worker-$i exited; see $dir/worker-$i.log"
    fi
  done
}

stop_workers() {
  local f
  for f in "$STATE"/workers/worker-*.pid; do
    [[ -e $f ]] || continue
    stop_pid "$f" "$WORKER_PATTERN" "$(basename "$f" .pid)" 10 &
  done
  wait
}

# --- the settings --------------------------------------------------------------------------

catalog_url() { echo "postgresql+psycopg://$PG_ROLE:$PG_PASSWORD@$HOST:$PG_PORT/strata_catalog"; }

cluster_env() {
  local pg=$PG_ROLE:$PG_PASSWORD@$HOST:$PG_PORT
  cat <<EOF
STRATA_DATABASE_URL=postgresql+psycopg://$pg/strata
STRATA_DAGSTER_STORAGE_URL=postgresql://$pg/strata_dagster
STRATA_CATALOG_URL=postgresql+psycopg://$pg/strata_catalog
STRATA_MLFLOW_TRACKING_URI=postgresql+psycopg://$pg/strata_mlflow
STRATA_S3_ENDPOINT=http://$HOST:$S3_PORT
STRATA_S3_REGION=$S3_REGION
STRATA_S3_ACCESS_KEY_ID=$S3_ACCESS_KEY_ID
STRATA_S3_SECRET_ACCESS_KEY=$S3_SECRET_ACCESS_KEY
STRATA_WAREHOUSE=s3://$BUCKET/warehouse
STRATA_LANDING_URL=s3://$BUCKET/landing
STRATA_MLFLOW_ARTIFACT_ROOT=s3://$BUCKET/mlflow
STRATA_DAGSTER_COMPUTE_LOGS=s3://$BUCKET/dagster-logs
STRATA_QUERY_ENGINE=trino
STRATA_TRINO_URL=http://strata@$HOST:$TRINO_PORT/iceberg
STRATA_RUN_MODE=dagster
STRATA_RUN_LAUNCHER=celery
STRATA_CELERY_BROKER_URL=redis://:$REDIS_PASSWORD@$HOST:$REDIS_PORT/0
STRATA_CELERY_BACKEND_URL=redis://:$REDIS_PASSWORD@$HOST:$REDIS_PORT/1
EOF
}

write_env() {
  local line
  (
    umask 077
    cluster_env | while IFS= read -r line; do
      [[ $line != *"'"* ]] || die "unexpected quote in ${line%%=*}"
      printf "export %s='%s'\n" "${line%%=*}" "${line#*=}"
    done >"$STATE/env.new"
    mv "$STATE/env.new" "$STATE/env"
  )
}

# --- commands ------------------------------------------------------------------------------

cmd_up() {
  local workers=2 t0
  while (($#)); do
    case $1 in
    --workers)
      [[ ${2:-} =~ ^[0-9]+$ ]] || die "--workers needs a number"
      workers=$2
      shift 2
      ;;
    --workers=*)
      workers=${1#*=}
      [[ $workers =~ ^[0-9]+$ ]] || die "--workers needs a number"
      shift
      ;;
    *) usage ;;
    esac
  done
  [[ $(id -u) == 0 ]] || die "run as root (apt-get, Debian's PostgreSQL cluster)"
  t0=$(now)
  ensure_venv
  load_secrets
  start_postgres
  start_redis
  start_moto
  if ((S3_FRESH)) && databases_exist && [[ ${STRATA_CLUSTER_KEEP_DATABASES:-0} != 1 ]]; then
    # moto keeps objects in memory: the stores' rows would point at objects that are gone.
    log "the object store is new: recreating databases ${DATABASES[*]}"
    ensure_databases 1
  else
    ensure_databases 0
  fi
  init_catalog
  start_trino
  write_env
  start_workers "$workers"
  log "cluster up in $(($(now) - t0))s; settings in $STATE/env"
  cat "$STATE/env"
}

cmd_down() {
  local purge=0
  case ${1:-} in
  '') ;;
  --purge) purge=1 ;;
  *) usage ;;
  esac
  stop_workers
  if [[ -x $TRINO_HOME/bin/launcher ]]; then
    TRINO_JAVA=${STRATA_TRINO_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
    if trino_running; then
      log "stopping Trino"
      trino_launcher stop >&2 || true
    fi
  fi
  stop_pid "$STATE/moto.pid" moto_server moto
  stop_pid "$STATE/redis/redis.pid" redis-server redis
  if ((purge)); then
    PG_PORT=$(pg_lsclusters -h 2>/dev/null | awk -v v="$(pg_version 2>/dev/null)" '$1 == v && $2 == "main" && $4 ~ /online/ {print $3}')
    if [[ -n $PG_PORT ]]; then
      log "dropping databases ${DATABASES[*]} and role $PG_ROLE"
      ensure_databases_drop_only
      psql_admin <<<"DROP ROLE IF EXISTS $PG_ROLE;"
    else
      log "warning: PostgreSQL main is not running: databases and role $PG_ROLE left in place"
    fi
    log "removing $STATE"
    rm -rf "$STATE"
  else
    log "PostgreSQL's Debian cluster keeps running (other users may need it)"
  fi
}

ensure_databases_drop_only() {
  local list
  list=$(printf "'%s'," "${DATABASES[@]}")
  psql_admin <<SQL
SELECT format('DROP DATABASE %I WITH (FORCE)', datname) FROM pg_database
 WHERE datname IN (${list%,}) \gexec
SQL
}

cmd_env() {
  [[ -s $STATE/env ]] || die "no $STATE/env: run '$0 up' first"
  cat "$STATE/env"
}

# Run the command under an exclusive lock on $STATE/.lock. flock -o holds it in the flock process
# alone, so the daemons started below never inherit the lock's descriptor (and never keep it).
with_lock() {
  if [[ ${_STRATA_CLUSTER_LOCKED:-} != "$STATE" ]]; then
    mkdir -p "$STATE"
    chmod 700 "$STATE"
    if ! flock -n "$STATE/.lock" true; then
      log "waiting for another local-cluster.sh (lock $STATE/.lock)"
    fi
    exec env _STRATA_CLUSTER_LOCKED="$STATE" flock -o -w 600 "$STATE/.lock" \
      bash "${BASH_SOURCE[0]}" "$@"
  fi
  unset _STRATA_CLUSTER_LOCKED
  local cmd=$1
  shift
  "cmd_$cmd" "$@"
}

main() {
  local cmd=${1:-}
  (($#)) && shift
  case $cmd in
  up) with_lock up "$@" ;;
  down)
    if [[ -d $STATE ]]; then with_lock down "$@"; else log "nothing to stop: no $STATE"; fi
    ;;
  env) cmd_env ;;
  *) usage ;;
  esac
}

main "$@"
