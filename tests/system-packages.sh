#!/usr/bin/env bash
# The Debian packages the tests start for real: a redis-server of their own, promtool and a
# prometheus server, a headless chromium for the HTML pages, and docker-compose to check
# docker-compose.yml (nothing runs a container). Installs what is missing with apt-get where
# it may (root, or sudo without a password); otherwise names the command to run.
set -euo pipefail

# package:command pairs; a package counts as there when its command is on the PATH.
wanted=(redis-server:redis-server prometheus:promtool prometheus:prometheus chromium:chromium
        docker-compose:docker-compose)

missing=()
for pair in "${wanted[@]}"; do
  package=${pair%%:*} command=${pair#*:}
  if ! command -v "$command" >/dev/null 2>&1 && [[ ! " ${missing[*]} " =~ " $package " ]]; then
    missing+=("$package")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -eq 0 ]]; then
  apt=(apt-get)
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  apt=(sudo apt-get)
else
  echo "the tests need the Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "installing the Debian packages the tests need: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine's package lists may be out of date: refresh them once if the install fails.
"${apt[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null \
  || { "${apt[@]}" update >/dev/null && "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null; }
