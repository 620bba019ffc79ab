# SPDX-License-Identifier: GPL-2.0
#
# Shared by the test-bed scripts: paths, the pinned guest kernel, the
# cache, and installing what is missing. Sourced, never run.

SHSTK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHSTK_VM_DIR="$SHSTK_ROOT/tests/vm"
# Slow things (Bochs, kernel packages, kernel source) live outside the tree.
SHSTK_CACHE=${SHSTK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shstk}

# Both guests boot Debian's stock kernel and the module is built against
# Debian's matching headers: the binary a user insmods on a dev box.
SHSTK_KVER=${SHSTK_KVER:-6.12.117+deb12-amd64}

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

# The kernel build tree the module is built against. SHSTK_GUEST_KDIR and
# SHSTK_GUEST_KERNEL (with SHSTK_KVER, its release) boot another kernel,
# e.g. a debug build.
guest_kdir() {
	if [ -n "${SHSTK_GUEST_KDIR:-}" ]; then
		echo "$SHSTK_GUEST_KDIR"
		return
	fi
	need_pkgs "linux-headers-$SHSTK_KVER"
	echo "/usr/src/linux-headers-$SHSTK_KVER"
}

# Path of the guest's vmlinuz: Debian's unsigned image, unpacked in the cache.
guest_kernel() {
	local dir="$SHSTK_CACHE/kernel-$SHSTK_KVER" tmp deb

	if [ -n "${SHSTK_GUEST_KERNEL:-}" ]; then
		echo "$SHSTK_GUEST_KERNEL"
		return
	fi
	if [ ! -f "$dir/vmlinuz" ]; then
		need_pkgs dpkg-dev
		tmp=$(mktemp -d "$SHSTK_CACHE/.kernel.XXXXXX")
		msg "downloading linux-image-$SHSTK_KVER-unsigned"
		(cd "$tmp" && apt-get download "linux-image-$SHSTK_KVER-unsigned" >/dev/null 2>&1) ||
			(apt-get update >/dev/null 2>&1 &&
			 cd "$tmp" && apt-get download "linux-image-$SHSTK_KVER-unsigned" >/dev/null) ||
			die "cannot download linux-image-$SHSTK_KVER-unsigned"
		deb=$(ls "$tmp"/*.deb)
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" "./boot/vmlinuz-$SHSTK_KVER"
		mkdir -p "$dir"
		mv "$tmp/boot/vmlinuz-$SHSTK_KVER" "$dir/vmlinuz"
		rm -rf "$tmp"
	fi
	echo "$dir/vmlinuz"
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

mkdir -p "$SHSTK_CACHE"
