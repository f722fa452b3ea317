#!/usr/bin/env bash
# Debian packages the project uses, installed only when missing.
#   build: what `pip install` needs to compile python-ldap (django-auth-ldap's LDAP
#          client): a C compiler, Python's headers, OpenLDAP's and Cyrus SASL's headers.
#   (default) build, plus what the tests use: the real drbdadm parser, chromium for
#          Playwright, OpenSSH server/client for the ForceCommand test, docker-compose to
#          validate docker-compose.yml (no engine needed), OpenLDAP's slapd (the LDAP
#          login tests start their own), ldap-utils (ldapsearch, to look by hand) and
#          prometheus for promtool, which checks docs' alerting rules (its service is
#          not started: policy-rc.d or no systemd).
set -euo pipefail
need=()
command -v gcc >/dev/null || need+=(gcc)
[ -f /usr/include/python3.11/Python.h ] || need+=(python3.11-dev)
[ -f /usr/include/ldap.h ] || need+=(libldap2-dev)
[ -f /usr/include/sasl/sasl.h ] || need+=(libsasl2-dev)
if [ "${1:-}" != build ]; then
  command -v drbdadm >/dev/null || [ -x /usr/sbin/drbdadm ] || need+=(drbd-utils)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  [ -x /usr/sbin/sshd ] || need+=(openssh-server)
  command -v ssh-keygen >/dev/null || need+=(openssh-client)
  command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || need+=(docker-compose)
  [ -x /usr/sbin/slapd ] || need+=(slapd)
  command -v ldapsearch >/dev/null || need+=(ldap-utils)
  command -v promtool >/dev/null || need+=(prometheus)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian's slapd package starts a system slapd where it can; the tests never use it.
fi
