#!/bin/sh
# Installs Debian's chromium for the browser test (browser_test.go) when it is
# missing. Idempotent: exits at once when a chromium is already on PATH.
# Needs root (or sudo without a password) and apt; it says so and fails otherwise.
set -eu

if command -v chromium >/dev/null 2>&1; then
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-chromium: apt-get not found; install Debian's chromium package by hand" >&2
	exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		SUDO="sudo -n"
	else
		echo "install-chromium: not root and no passwordless sudo; run: apt-get install -y chromium" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core
command -v chromium >/dev/null 2>&1
