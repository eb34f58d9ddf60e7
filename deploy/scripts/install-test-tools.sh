#!/bin/sh
# Installs the tools deploy/'s tests need, from Debian's packages, only when missing:
#   promtool  (package prometheus)               - checks and unit-tests rule files
#   amtool    (package prometheus-alertmanager)  - checks the Alertmanager config
# Idempotent: with both on PATH it does nothing. Needs root (or passwordless sudo) and apt-get.
set -eu

need=""
command -v promtool >/dev/null 2>&1 || need="$need prometheus"
command -v amtool >/dev/null 2>&1 || need="$need prometheus-alertmanager"

if [ -z "$need" ]; then
	echo "install-test-tools: promtool and amtool are already installed"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-test-tools: missing:$need, and apt-get is not available." >&2
	echo "Install promtool (Prometheus) and amtool (Alertmanager) by hand and put them on PATH." >&2
	exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		SUDO="sudo -n"
	else
		echo "install-test-tools: missing:$need; installing needs root." >&2
		echo "Run as root:  apt-get update && apt-get install -y --no-install-recommends$need" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-test-tools: installing$need"
$SUDO apt-get update -q
# --no-install-recommends and policy-rc.d keep the packages' own daemons from being
# pulled in and started; only the command-line tools are needed here.
if [ ! -e /usr/sbin/policy-rc.d ] && [ -z "$SUDO" ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
# shellcheck disable=SC2086 # word splitting of $need is wanted
$SUDO apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $need

for tool in promtool amtool; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "install-test-tools: $tool is still not on PATH after installing$need" >&2
		exit 1
	fi
done
echo "install-test-tools: $(promtool --version 2>&1 | head -n1)"
echo "install-test-tools: $(amtool --version 2>&1 | head -n1)"
