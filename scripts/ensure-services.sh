#!/usr/bin/env bash
# Start what the tests need if it is not running: PostgreSQL, Redis, RabbitMQ, and Chromium for
# browser tests. Idempotent; uses the machine's Debian services (see README "Running the tests").
set -u

say() { printf 'services: %s\n' "$*"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && exec 3>&- 3<&-; }

wait_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 1; done
  return 1
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

apt_install() {
  if ! command -v apt-get >/dev/null; then say "no apt-get: install $* by hand"; return 1; fi
  if [ -z "${APT_UPDATED:-}" ]; then as_root apt-get update -qq >/dev/null 2>&1; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null 2>&1
}

# PostgreSQL
if ! port_open 5432; then
  if ! command -v pg_ctlcluster >/dev/null; then say "installing postgresql"; apt_install postgresql; fi
  say "starting PostgreSQL"
  version=$(ls /etc/postgresql 2>/dev/null | head -1)
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_port 5432 || { say "PostgreSQL did not start"; exit 1; }
fi

# Redis
if ! port_open 6379; then
  command -v redis-server >/dev/null || { say "installing redis"; apt_install redis-server; }
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || redis-server --daemonize yes --port 6379 --save ""
  wait_port 6379 || { say "Redis did not start"; exit 1; }
fi

# RabbitMQ (the Celery kill tests use it: it redelivers a dead worker's messages at once)
if ! port_open 5672; then
  command -v rabbitmq-server >/dev/null || { say "installing rabbitmq"; apt_install rabbitmq-server; }
  say "starting RabbitMQ"
  as_root rabbitmq-server -detached || true
  wait_port 5672 || { say "RabbitMQ did not start"; exit 1; }
fi

# Chromium for the browser tests
if ! command -v chromium >/dev/null && [ ! -x /usr/bin/chromium ]; then
  say "installing chromium"
  apt_install chromium || say "could not install chromium"
fi
say "PostgreSQL, Redis, RabbitMQ and Chromium are ready"
