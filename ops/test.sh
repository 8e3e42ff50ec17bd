#!/usr/bin/env bash
# Runs every test of Hotline. Finds, or starts, what the tests need; installs what is missing.
#
#   ops/test.sh                  everything (format, lints, all tests)
#   ops/test.sh -p hotline-domain   extra arguments go to the test runner
#
# PostgreSQL: HOTLINE_TEST_DATABASE_URL if set; else a server on 127.0.0.1:5432 that accepts
# `postgres` without a password; else a throwaway cluster (initdb + pg_ctl in a temp dir, on a free
# port, stopped on exit), after `apt-get install postgresql` where initdb is missing.
# HOTLINE_TEST_POSTGRES=throwaway always starts the throwaway cluster (what a fresh machine does).
# NATS: the bus tests start their own nats-server (`apt-get install nats-server` where missing).
# Telephony: the rig tests start their own Kamailio and SIPp peers (gateway-adapters/src/rig;
# `apt-get install kamailio sip-tester` where missing).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1mtest.sh:\033[0m %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

apt_install() {
    if ! have apt-get; then
        log "missing $*; install it with your package manager"; exit 1
    fi
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    log "installing $* with apt-get"
    $sudo apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

free_port() {
    local port
    for port in $(seq "$1" $(($1 + 200))); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
    done
    log "no free port from $1"; exit 1
}

cleanup=()
on_exit() { for step in "${cleanup[@]}"; do eval "$step" || true; done; }
trap on_exit EXIT

# --- Rust toolchain --------------------------------------------------------------------------
have cargo || { log "cargo not found: install Rust (rustup) first"; exit 1; }
if have rustup; then
    rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi

# --- PostgreSQL ------------------------------------------------------------------------------
find_pg_bin() {
    if have initdb && have pg_ctl; then dirname "$(command -v initdb)"; return; fi
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

start_throwaway_postgres() {
    local bin dir port run_as=()
    bin=$(find_pg_bin)
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        apt_install postgresql
        bin=$(find_pg_bin)
    fi
    dir=$(mktemp -d /tmp/hotline-pg.XXXXXX)
    port=$(free_port 55432)
    # initdb refuses to run as root: run the cluster as the postgres system user.
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        chown postgres "$dir"
        run_as=(runuser -u postgres --)
    fi
    log "starting a throwaway PostgreSQL on 127.0.0.1:$port ($dir)"
    "${run_as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
    cleanup+=("${run_as[*]} $bin/pg_ctl -D $dir/data -m immediate stop >/dev/null; rm -rf $dir")
    export HOTLINE_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

if [ "${HOTLINE_TEST_POSTGRES:-}" = "throwaway" ]; then
    start_throwaway_postgres
elif [ -z "${HOTLINE_TEST_DATABASE_URL:-}" ]; then
    candidate="postgres://postgres@127.0.0.1:5432/postgres"
    if have psql && psql "$candidate" -Atqc 'select 1' >/dev/null 2>&1; then
        log "using the PostgreSQL on 127.0.0.1:5432"
        export HOTLINE_TEST_DATABASE_URL="$candidate"
    else
        start_throwaway_postgres
    fi
fi
log "PostgreSQL for tests: $HOTLINE_TEST_DATABASE_URL"

# --- NATS --------------------------------------------------------------------------------------
# The bus tests start their own nats-server on a free port (they stop and restart it mid-stream).
have nats-server || apt_install nats-server
log "nats-server: $(nats-server --version)"

# --- Telephony rig -----------------------------------------------------------------------------
# The rig tests run a real Kamailio (a HEP-mirroring proxy) between SIPp peers, on free ports.
# Debian puts kamailio in /usr/sbin, which a non-root PATH may lack.
have kamailio || [ -x /usr/sbin/kamailio ] || apt_install kamailio
have sipp || apt_install sip-tester
kamailio_bin=$(command -v kamailio || echo /usr/sbin/kamailio)
log "kamailio: $("$kamailio_bin" -v 2>/dev/null | head -n 1)"
log "sipp: $(sipp -v 2>/dev/null | grep -o 'SIPp v[^ ]*' | head -n 1)"

# --- Checks and tests ------------------------------------------------------------------------
export INSTA_UPDATE=no CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-always}" RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

# --- The hostile suite's server ----------------------------------------------------------------
# One `hotline serve` (embedded SQLite) that every test of ops/tests/hostile attacks; once they all
# have, `hotline verify` must still find its log intact. Limits that tests set low get servers
# of their own; this one's request rates are off, since the whole suite is one user.
# Built as the test runner builds it (the same features, so the runner does not build again).
cargo test --workspace --locked --no-run >/dev/null 2>&1 || cargo test --workspace --locked --no-run
hostile_dir=$(mktemp -d /tmp/hotline-hostile.XXXXXX)
hostile_port=$(free_port 18400)
hotline_bin="${CARGO_TARGET_DIR:-target}/debug/hotline"
HOTLINE_LOG=warn "$hotline_bin" --data-dir "$hostile_dir" token --user setup --roles agent --tenant tj01 >/dev/null
HOTLINE_LOG=warn "$hotline_bin" --data-dir "$hostile_dir" demo --events 50 >/dev/null
env -u HOTLINE_DATABASE_URL HOTLINE_LOG=warn "$hotline_bin" --data-dir "$hostile_dir" serve \
    --listen "127.0.0.1:$hostile_port" --rate-per-user 0 --rate-per-address 0 2>"$hostile_dir/serve.log" &
hostile_pid=$!
cleanup+=("kill $hostile_pid 2>/dev/null; rm -rf $hostile_dir")
export HOTLINE_HOSTILE_SERVER="127.0.0.1:$hostile_port" HOTLINE_HOSTILE_DATA_DIR="$hostile_dir"
log "hostile suite's server: $HOTLINE_HOSTILE_SERVER ($hostile_dir)"

# Stops the hostile suite's server and verifies the log its attackers left.
verify_hostile_log() {
    kill "$hostile_pid" 2>/dev/null && wait "$hostile_pid" 2>/dev/null || true
    log "hotline verify, after the hostile suite"
    if ! env -u HOTLINE_DATABASE_URL HOTLINE_LOG=warn "$hotline_bin" --data-dir "$hostile_dir" verify; then
        log "hotline verify failed on the hostile suite's log; its server's log:"
        tail -n 50 "$hostile_dir/serve.log" >&2
        return 1
    fi
}
if cargo nextest --version >/dev/null 2>&1; then
    # Doc tests first, so that the run closes with nextest's summary of every test.
    log "doc tests"
    cargo test --workspace --locked --doc
    log "cargo nextest run"
    status=0
    cargo nextest run --workspace --locked --no-fail-fast "$@" || status=$?
    verify_hostile_log || status=1
    exit "$status"
else
    log "cargo test (install cargo-nextest for a faster run)"
    results=$(mktemp)
    cleanup+=("rm -f $results")
    status=0
    cargo test --workspace --locked --no-fail-fast "$@" 2>&1 | tee "$results" || status=$?
    verify_hostile_log || status=1
    # Close with the totals of every test binary, not the last crate's doc tests.
    awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$results"
    exit "$status"
fi
