# SPDX-License-Identifier: GPL-2.0
#
# Shared by the test-bed scripts: paths, the pinned guest kernel, the
# cache, and installing what is missing. Sourced, never run.

SHSTK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHSTK_VM_DIR="$SHSTK_ROOT/tests/vm"
# Slow things (Bochs, kernel packages, kernel source) live outside the tree.
SHSTK_CACHE=${SHSTK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shstk}

msg() { printf '[+] %s\n' "$*" >&2; }
die() { printf '[-] %s\n' "$*" >&2; exit 1; }

# need_pkgs PKG...: apt-get install the Debian packages not yet installed.
need_pkgs() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages: ${missing[*]} (install them as root)"
	msg "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y --no-install-recommends "${missing[@]}" >"$SHSTK_CACHE/apt.log" 2>&1; then
		apt-get update >>"$SHSTK_CACHE/apt.log" 2>&1 || true
		apt-get install -y --no-install-recommends "${missing[@]}" >>"$SHSTK_CACHE/apt.log" 2>&1 ||
			die "apt-get install ${missing[*]} failed, see $SHSTK_CACHE/apt.log"
	fi
}

# The kernels the test bed boots: Debian's stock ones, each with the
# module built against Debian's matching headers by the compiler that
# built the kernel (the binary a user insmods). By series:
#   6.12  6.12.117+deb12-amd64  Debian 12's apt, on the host
#   7.3   7.3.4+deb13-amd64     trixie-backports (Debian 13's new-hardware
#                               kernel), in the sid root, gcc 14
#   7.2   7.2.13+deb14-amd64    unstable, in the sid root, gcc 16
#   7.2-arm64  7.2.13+deb14-arm64  the same for arm64 (GCS guest), cross-built
#                               with aarch64-linux-gnu-gcc 16 in the sid root
#   7.3-arm64  7.3.4+deb13-arm64   trixie-backports for arm64, gcc 14 (cross)
#   7.2-riscv64  7.2.13+deb14-riscv64  unstable for riscv64 (Zicfiss guest),
#                               cross-built with riscv64-linux-gnu-gcc 16
#                               (trixie-backports serves no riscv64 kernel)
# SHSTK_KVER picks one, by series or by exact release (default 6.12).
# Releases vanish from the archive as it moves on: where the pinned one is
# gone, the newest of its series is used, and said. The release's last
# part is Debian's architecture (kernel_arch).
# tests/check's kernels (its guests are x86's); the arm64 GCS guest's
# kernels apart, until that guest joins tests/check.
SHSTK_KERNEL_SERIES="6.12 7.3 7.2"
SHSTK_GCS_KERNEL_SERIES="7.2-arm64 7.3-arm64"
SHSTK_ZICFISS_KERNEL_SERIES="7.2-riscv64"
kernel_pinned() {
	case "$1" in
	6.12) echo 6.12.117+deb12-amd64 ;;
	7.3) echo 7.3.4+deb13-amd64 ;;
	7.2) echo 7.2.13+deb14-amd64 ;;
	7.2-arm64) echo 7.2.13+deb14-arm64 ;;
	7.3-arm64) echo 7.3.4+deb13-arm64 ;;
	7.2-riscv64) echo 7.2.13+deb14-riscv64 ;;
	*) return 1 ;;
	esac
}

# kernel_arch [RELEASE]: Debian's architecture of a kernel (amd64, arm64, riscv64).
kernel_arch() {
	local r=${1:-$SHSTK_KVER}
	case "$r" in
	*-arm64) echo arm64 ;;
	*-riscv64) echo riscv64 ;;
	*) echo amd64 ;;	# Debian's -amd64, and our own x86 builds (-shstk-debug)
	esac
}

# kernel_pkg NAME: NAME as apt names it in the sid root (amd64) for the
# guest kernel's architecture: arm64 packages are foreign there.
kernel_pkg() {
	local arch
	arch=$(kernel_arch)
	if [ "$arch" = amd64 ]; then echo "$1"; else echo "$1:$arch"; fi
}

# kernel_make_vars: make variables that build for the guest kernel's
# architecture (cross-compiling from amd64).
kernel_make_vars() {
	case "$(kernel_arch)" in
	arm64) echo ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- ;;
	riscv64) echo ARCH=riscv CROSS_COMPILE=riscv64-linux-gnu- ;;
	esac
}

# guest_cross_gcc: the sid root's gcc for the guest kernel's architecture
# (init and test programs; the module is built by the kernel's own compiler).
guest_cross_gcc() {
	case "$(kernel_arch)" in
	arm64) echo aarch64-linux-gnu-gcc ;;
	riscv64) echo riscv64-linux-gnu-gcc ;;
	*) echo gcc ;;
	esac
}

# Kernels Debian 12's apt does not have live in the sid root.
kernel_in_sid() {
	case "${1:-$SHSTK_KVER}" in
	*+deb12-*) return 1 ;;
	*) [ -z "${SHSTK_GUEST_KDIR:-}" ] ;;
	esac
}

# kernel_resolve SERIES|RELEASE: the exact release to use.
kernel_resolve() {
	local want=$1 pinned series re found
	pinned=$(kernel_pinned "$want") || { echo "$want"; return; }
	series=${want%-*}
	series=${series//./\\.}
	case "$pinned" in
	*+deb12-*)
		apt-cache show "linux-headers-$pinned" >/dev/null 2>&1 && { echo "$pinned"; return; }
		re="^linux-headers-$series\\.[0-9]+\\+deb12-amd64\$"
		found=$(apt-cache search --names-only "$re" | cut -d' ' -f1 | sort -V | tail -n 1)
		;;
	*)
		sid_apt_lists
		sid_run apt-cache show "linux-headers-$pinned" >/dev/null 2>&1 && { echo "$pinned"; return; }
		re="^linux-headers-$series\\.[0-9]+\\+${pinned#*+}\$"
		found=$(sid_newest "$re")
		;;
	esac
	[ -n "$found" ] || die "no Linux $want headers in the archive any more (wanted $pinned)"
	msg "Linux $want: $pinned is gone from the archive, using ${found#linux-headers-}"
	echo "${found#linux-headers-}"
}

# module_build_lock: hold, until the calling (sub)shell ends, the lock
# that keeps two builds of the module in the work tree apart (each kernel
# rebuilds every object there).
module_build_lock() {
	exec 7>"$SHSTK_CACHE/build-$(echo "$SHSTK_ROOT" | sha256sum | cut -c1-12).lock"
	flock 7
}

# Kbuild's note that the build machine's pahole (sid's) is not the one
# the kernel was built with (trixie-backports' 7.3): about BTF of the
# build host, not about the module. Filtered from builds' output.
kbuild_pahole_note='^warning: pahole version differs from the one used to build the kernel$|^  (The kernel was built with|You are using): +[0-9]+$'

# in_kernel_root CMD...: CMD where the guest kernel's headers live.
in_kernel_root() {
	if kernel_in_sid; then sid_run "$@"; else "$@"; fi
}

# The kernel build tree the module is built against, as in_kernel_root
# sees it. SHSTK_GUEST_KDIR and SHSTK_GUEST_KERNEL (with SHSTK_KVER, its
# release) boot another kernel, e.g. a debug build.
guest_kdir() {
	local cc
	if [ -n "${SHSTK_GUEST_KDIR:-}" ]; then
		echo "$SHSTK_GUEST_KDIR"
		return
	fi
	if kernel_in_sid; then
		sid_pkgs "$(kernel_pkg "linux-headers-$SHSTK_KVER")" make
		# The compiler that built the kernel: "x86_64-linux-gnu-gcc-16 (Debian ...",
		# package gcc-16, or "aarch64-linux-gnu-gcc-16", gcc-16-aarch64-linux-gnu.
		cc=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\([^ ]*\) .*/\1/p' \
			"$SHSTK_SID_ROOT/usr/src/linux-headers-$SHSTK_KVER/.config")
		case "$cc" in
		x86_64-linux-gnu-gcc-*) sid_pkgs "gcc-${cc##*-gcc-}" ;;
		*-gcc-*) sid_pkgs "gcc-${cc##*-gcc-}-${cc%-gcc-*}" ;;
		esac
	else
		need_pkgs "linux-headers-$SHSTK_KVER"
	fi
	echo "/usr/src/linux-headers-$SHSTK_KVER"
}

# Path of the guest's vmlinuz: Debian's image, unpacked in the cache
# (6.12: linux-image-*-unsigned; 7.x: linux-binary-*, which holds it).
guest_kernel() {
	local dir="$SHSTK_CACHE/kernel-$SHSTK_KVER" tmp deb pkg

	if [ -n "${SHSTK_GUEST_KERNEL:-}" ]; then
		echo "$SHSTK_GUEST_KERNEL"
		return
	fi
	if [ ! -f "$dir/vmlinuz" ]; then
		need_pkgs dpkg-dev
		tmp=$(mktemp -d "$SHSTK_CACHE/.kernel.XXXXXX")
		if kernel_in_sid; then
			pkg=$(kernel_pkg "linux-binary-$SHSTK_KVER")
			msg "downloading $pkg (sid root)"
			sid_apt_lists
			(cd "$tmp" && sid_run apt-get download "$pkg" \
				>/dev/null 2>&1) || die "cannot download $pkg"
		else
			pkg=linux-image-$SHSTK_KVER-unsigned
			msg "downloading $pkg"
			(cd "$tmp" && apt-get download "$pkg" >/dev/null 2>&1) ||
				(apt-get update >/dev/null 2>&1 &&
				 cd "$tmp" && apt-get download "$pkg" >/dev/null) ||
				die "cannot download $pkg"
		fi
		deb=$(ls "$tmp"/*.deb)
		dpkg-deb -x "$deb" "$tmp/x"
		mkdir -p "$dir"
		mv "$(find "$tmp/x" -name "vmlinuz*" -type f | head -n 1)" "$dir/vmlinuz" ||
			die "$pkg has no vmlinuz"
		rm -rf "$tmp"
	fi
	echo "$dir/vmlinuz"
}

# Path of a static busybox for the guest kernel's architecture: the
# host's for amd64; for another, Debian sid's busybox-static of that
# architecture, unpacked in the cache (not installed in the sid root, where
# one architecture's would replace another's /bin/busybox).
guest_busybox() {
	local arch dir tmp pkg
	arch=$(kernel_arch)
	if [ "$arch" = amd64 ]; then
		need_pkgs busybox-static
		echo /bin/busybox
		return
	fi
	dir=$SHSTK_CACHE/busybox-$arch
	if [ ! -x "$dir/busybox" ]; then
		need_pkgs dpkg-dev
		pkg=busybox-static:$arch
		msg "downloading $pkg (sid root)"
		sid_apt_lists
		tmp=$(mktemp -d "$SHSTK_CACHE/.busybox.XXXXXX")
		(cd "$tmp" && sid_run apt-get download "$pkg" >/dev/null 2>&1) ||
			die "cannot download $pkg"
		dpkg-deb -x "$tmp"/*.deb "$tmp/x"
		mkdir -p "$dir"
		mv "$tmp/x/usr/bin/busybox" "$dir/busybox" || die "$pkg has no usr/bin/busybox"
		rm -rf "$tmp"
	fi
	echo "$dir/busybox"
}

# Debian's linux-source-6.12, unpacked once: kselftest_harness.h,
# checkpatch.pl, and the tree for debug kernels.
kernel_source() {
	local dir="$SHSTK_CACHE/src/linux-source-6.12" tar=/usr/src/linux-source-6.12.tar.xz
	need_pkgs linux-source-6.12 xz-utils
	if [ ! -f "$dir/.unpacked" ] || [ "$tar" -nt "$dir/.unpacked" ]; then
		msg "unpacking $tar"
		rm -rf "$dir"
		mkdir -p "$SHSTK_CACHE/src"
		tar -xJf "$tar" -C "$SHSTK_CACHE/src"
		touch "$dir/.unpacked"
	fi
	echo "$dir"
}


# A Debian sid root for what Debian 12's apt does not have: Linux 7.x
# headers and images, the compilers those kernels were built with (gcc 16
# for sid's 7.2, gcc 14 for trixie-backports' 7.3), QEMU 11 (arm64 GCS and
# RISC-V Zicfiss), cross compilers. Made once with mmdebstrap (about a
# minute) and kept in the cache; packages are added to it on demand
# (sid_pkgs).
SHSTK_SID_MIRROR=${SHSTK_SID_MIRROR:-http://deb.debian.org/debian}
sid_includes=ca-certificates,make,kmod,xz-utils,zstd,cpio,gzip,bc
sid_sources=("deb $SHSTK_SID_MIRROR sid main" "deb $SHSTK_SID_MIRROR trixie-backports main")
SHSTK_SID_ROOT=$SHSTK_CACHE/sid-$(echo "$sid_includes ${sid_sources[*]}" | sha256sum | cut -c1-12)

sid_root() {
	local root=$SHSTK_SID_ROOT tmp
	[ -f "$root/.ready" ] && { echo "$root"; return; }
	exec 8>"$root.lock"
	flock 8
	if [ ! -f "$root/.ready" ]; then
		[ "$(id -u)" -eq 0 ] || die "the sid root is made as root (mmdebstrap, chroot)"
		need_pkgs mmdebstrap
		msg "making a Debian sid root in $root (mmdebstrap, about a minute)"
		tmp=$root.tmp
		rm -rf "$tmp" "$root"
		mmdebstrap --mode=root --variant=apt --aptopt='Acquire::Check-Valid-Until "false"' \
			--include="$sid_includes" sid "$tmp" "${sid_sources[@]}" \
			>"$SHSTK_CACHE/mmdebstrap.log" 2>&1 ||
			die "mmdebstrap failed (network to $SHSTK_SID_MIRROR?), see $SHSTK_CACHE/mmdebstrap.log"
		# The archive's Release files are past Valid-Until: every apt call ignores that.
		printf 'Acquire::Check-Valid-Until "false";\nAPT::Install-Recommends "false";\n' \
			>"$tmp/etc/apt/apt.conf.d/90shstk"
		# Policy-rc.d: no service starts inside the root.
		printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
		chmod 755 "$tmp/usr/sbin/policy-rc.d"
		mv -T "$tmp" "$root"
		touch "$root/.ready"
	fi
	exec 8>&-
	echo "$root"
}

# sid_run CMD...: CMD inside the sid root, in a private mount namespace
# with /proc, /sys, /dev, the work tree, the cache and TMPDIR bound at the
# same paths (so paths mean the same inside and out; nothing outlives CMD).
# SHSTK_SID_EXEC=1 replaces the calling (sub)shell with CMD (every step
# execs), so its pid is CMD's: a background guest can be killed by pid.
sid_run() {
	local root
	root=$(sid_root)
	${SHSTK_SID_EXEC:+exec} unshare --mount --propagation private -- /bin/bash -c '
		set -e
		root=$1 binds=$2; shift 2
		mount -t proc proc "$root/proc"
		mount --rbind /sys "$root/sys"
		mount --rbind /dev "$root/dev"
		for d in $binds; do
			mkdir -p "$root$d"
			mount --bind "$d" "$root$d"
		done
		cwd=/
		[ ! -d "$root$PWD" ] || cwd=$PWD
		exec chroot "$root" /usr/bin/env -C "$cwd" "$@"
	' sid_run "$root" "$SHSTK_ROOT $SHSTK_CACHE ${TMPDIR:-/tmp}" "$@"
}

# The package lists, fetched once (mmdebstrap leaves none).
sid_apt_lists() {
	local root
	root=$(sid_root)
	[ -f "$root/.apt-updated" ] && return 0
	sid_run apt-get update >>"$SHSTK_CACHE/sid-apt.log" 2>&1 ||
		die "apt-get update in the sid root failed, see $SHSTK_CACHE/sid-apt.log"
	touch "$root/.apt-updated"
}

# sid_pkgs PKG...: apt-get install what the sid root lacks (one at a time
# across callers). Foreign architectures (PKG:arm64) are added as needed.
sid_pkgs() {
	local root missing=() p arch
	root=$(sid_root)
	for p in "$@"; do
		chroot "$root" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	exec 8>"$root.lock"
	flock 8
	for p in "${missing[@]}"; do
		case "$p" in *:*) arch=${p##*:}
			chroot "$root" dpkg --print-foreign-architectures | grep -qx "$arch" ||
				{ chroot "$root" dpkg --add-architecture "$arch"; rm -f "$root/.apt-updated"; } ;;
		esac
	done
	sid_apt_lists
	msg "sid root: installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive sid_run apt-get install -y "${missing[@]}" \
		>>"$SHSTK_CACHE/sid-apt.log" 2>&1 ||
		die "apt-get install ${missing[*]} in the sid root failed, see $SHSTK_CACHE/sid-apt.log"
	exec 8>&-
}

# sid_newest REGEX: the newest package in the sid root's lists whose name
# matches REGEX (versions vanish from the archive as it moves on).
sid_newest() {
	sid_run apt-cache search --names-only "$1" | cut -d' ' -f1 | grep -E "$1" | sort -V | tail -n 1
}

mkdir -p "$SHSTK_CACHE"

# Resolved once; scripts started from here inherit the exact release.
if [ -z "${SHSTK_KVER_RESOLVED:-}" ] || [ "$SHSTK_KVER_RESOLVED" != "${SHSTK_KVER:-}" ]; then
	SHSTK_KVER=$(kernel_resolve "${SHSTK_KVER:-6.12}") || exit 1
	export SHSTK_KVER SHSTK_KVER_RESOLVED=$SHSTK_KVER
fi
