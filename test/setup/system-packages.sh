#!/bin/sh
# Installs the Debian packages the tests drive for real, if they are missing: a Redis server for
# the state instances share, HAProxy in front of several instances, promtool (package prometheus)
# to check the /metrics exposition, and Chromium for the dashboard's browser test. Runs before `npm test`; on a machine without apt it says what to
# install instead of failing later with a confusing error.
set -eu
missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing="$missing haproxy"
command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "tests need:$missing (install them with your package manager)" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing Debian packages for the tests:$missing" >&2
$sudo apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 || {
  $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q --no-install-recommends $missing >/dev/null
}
