#!/bin/sh
# Installs Debian's chromium for the browser test (browser_test.go) when it is
# missing. Idempotent: exits at once when a chromium is already on PATH.
# Needs root (or sudo without a password) and apt; it says so and fails otherwise.
set -eu

if command -v chromium >/dev/null 2>&1; then
	exit 0
fi
# shellcheck source=../../../deploy/scripts/apt-install.sh
. "$(dirname "$0")/../../../deploy/scripts/apt-install.sh"
apt_install install-chromium chromium fonts-dejavu-core
command -v chromium >/dev/null 2>&1
