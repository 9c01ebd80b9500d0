#!/bin/sh
# Build the pupa guest kernel from Debian's linux-source-6.1 package.
#
#   build-kernel.sh OUTDIR
#
# Leaves OUTDIR/bzImage and OUTDIR/vmlinux (uncompressed ELF, PVH entry).
# The build is cached outside the source tree, keyed by the hash of the
# config fragment, this script and the kernel source version, so a clean
# clone reuses it: $PUPA_BUILD_CACHE, default ${XDG_CACHE_HOME:-~/.cache}/pupa-build.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build-kernel.sh OUTDIR}
src_tar=${PUPA_KERNEL_SOURCE:-/usr/src/linux-source-6.1.tar.xz}
cache=${PUPA_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pupa-build}/kernel
jobs=${PUPA_KERNEL_JOBS:-$(nproc)}

if [ ! -r "$src_tar" ]; then
	echo "build-kernel: $src_tar not found; install it with: apt-get install linux-source-6.1" >&2
	exit 1
fi

version=$(dpkg-query -W -f '${Version}' linux-source-6.1 2>/dev/null || stat -c %s-%Y "$src_tar")
key=$(cat "$here/pupa.config" "$here/build-kernel.sh" | { cat; echo "$version"; } | sha256sum | cut -c1-16)
dest=$cache/$key

mkdir -p "$cache" "$out"
exec 9>"$cache/.lock"
flock 9

if [ ! -f "$dest/bzImage" ]; then
	srcdir=$cache/src-$version
	if [ ! -f "$srcdir/Makefile" ]; then
		echo "build-kernel: unpacking $src_tar" >&2
		rm -rf "$srcdir.tmp"
		mkdir -p "$srcdir.tmp"
		tar -C "$srcdir.tmp" --strip-components=1 -xJf "$src_tar"
		rm -rf "$srcdir"
		mv "$srcdir.tmp" "$srcdir"
	fi
	obj=$cache/obj-$key
	rm -rf "$obj"
	mkdir -p "$obj"
	# tinyconfig is allnoconfig plus the tiny fragments; adding ours to the
	# same KCONFIG_ALLCONFIG keeps every symbol we do not name switched off.
	cat "$srcdir/kernel/configs/tiny.config" \
	    "$srcdir/arch/x86/configs/tiny.config" \
	    "$here/pupa.config" > "$obj/all.config"
	echo "build-kernel: configuring ($key)" >&2
	make -s -C "$srcdir" O="$obj" KCONFIG_ALLCONFIG="$obj/all.config" allnoconfig
	# Every symbol we ask for must survive dependency resolution.
	missing=0
	grep -E '^(CONFIG_[A-Z0-9_]+=|# CONFIG_[A-Z0-9_]+ is not set)' "$here/pupa.config" |
	while read -r line; do
		if ! grep -qxF "$line" "$obj/.config"; then
			case $line in
			"# "*) sym=${line#\# }; sym=${sym%% *}
			       grep -q "^$sym=" "$obj/.config" && echo "build-kernel: wanted '$line'" >&2 && exit 1 ;;
			*) echo "build-kernel: config lost '$line' (a dependency is missing)" >&2; exit 1 ;;
			esac
		fi
	done || missing=1
	[ $missing -eq 0 ] || exit 1
	echo "build-kernel: building bzImage and vmlinux with $jobs jobs" >&2
	start=$(date +%s)
	make -s -C "$srcdir" O="$obj" -j"$jobs" bzImage vmlinux
	echo "build-kernel: built in $(( $(date +%s) - start )) s" >&2
	rm -rf "$dest.tmp"
	mkdir -p "$dest.tmp"
	cp "$obj/arch/x86/boot/bzImage" "$dest.tmp/bzImage"
	objcopy --strip-debug "$obj/vmlinux" "$dest.tmp/vmlinux"
	cp "$obj/.config" "$dest.tmp/config"
	rm -rf "$dest"
	mv "$dest.tmp" "$dest"
	rm -rf "$obj"
fi

for f in bzImage vmlinux config; do
	cp "$dest/$f" "$out/$f.tmp"
	mv "$out/$f.tmp" "$out/$f"
done
echo "build-kernel: bzImage $(stat -c %s "$out/bzImage") bytes, vmlinux $(stat -c %s "$out/vmlinux") bytes" >&2
