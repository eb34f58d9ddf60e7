#!/bin/sh
# Shared by the install-*.sh scripts (sourced, not run): installs Debian packages
# for the tests without starting their services. Defines
#   apt_root NAME HINT   sets SUDO ("" as root, "sudo -n" with passwordless sudo)
#                        or fails saying HINT; also fails without apt-get
#   apt_install NAME PKG...  apt-get update + install --no-install-recommends
# NAME prefixes every message, so a failing test says which script spoke.

apt_root() {
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "$1: apt-get is not available; $2" >&2
		exit 1
	fi
	SUDO=""
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
			SUDO="sudo -n"
		else
			echo "$1: installing needs root or passwordless sudo; $2" >&2
			exit 1
		fi
	fi
}

apt_install() {
	name=$1
	shift
	apt_root "$name" "install by hand: apt-get install -y --no-install-recommends $*"
	export DEBIAN_FRONTEND=noninteractive
	echo "$name: installing $*"
	$SUDO apt-get update -q
	# policy-rc.d keeps the packages' own daemons from starting as services: the
	# tests start their own on 127.0.0.1 and stop them again.
	if [ ! -e /usr/sbin/policy-rc.d ] && [ -z "$SUDO" ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	# DPkg::Lock::Timeout: two test packages may install at once; the second
	# waits for the first's dpkg lock instead of failing.
	$SUDO apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}
