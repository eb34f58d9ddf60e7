#!/bin/sh
# Installs the tools deploy/'s tests need, from Debian's packages, only when missing:
#   promtool, prometheus                     (package prometheus)
#       checks and unit-tests rule files; the end-to-end test runs the server
#   amtool, prometheus-alertmanager          (package prometheus-alertmanager)
#       checks the Alertmanager config; the end-to-end test runs the server
# Idempotent: with all four on PATH it does nothing. Needs root (or passwordless sudo) and apt-get.
set -eu

need=""
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
	need="$need prometheus"
fi
if ! command -v amtool >/dev/null 2>&1 || ! command -v prometheus-alertmanager >/dev/null 2>&1; then
	need="$need prometheus-alertmanager"
fi

if [ -z "$need" ]; then
	echo "install-test-tools: promtool, prometheus, amtool and prometheus-alertmanager are already installed"
	exit 0
fi

# shellcheck source=apt-install.sh
. "$(dirname "$0")/apt-install.sh"
# shellcheck disable=SC2086 # word splitting of $need is wanted
apt_install install-test-tools $need

for tool in promtool prometheus amtool prometheus-alertmanager; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "install-test-tools: $tool is still not on PATH after installing$need" >&2
		exit 1
	fi
done
echo "install-test-tools: $(prometheus --version 2>&1 | head -n1)"
echo "install-test-tools: $(prometheus-alertmanager --version 2>&1 | head -n1)"
