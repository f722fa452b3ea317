#!/usr/bin/env bash
# Debian packages the tests use: the real drbdadm parser, chromium for Playwright,
# OpenSSH server/client for the ForceCommand test, docker-compose to validate
# docker-compose.yml (no engine needed). Installed only when missing.
set -euo pipefail
need=()
command -v drbdadm >/dev/null || [ -x /usr/sbin/drbdadm ] || need+=(drbd-utils)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || need+=(docker-compose)
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
