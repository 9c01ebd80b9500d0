#!/bin/bash
# bench/unpack.sh [RUNS]: how fast a root filesystem tarball becomes
# something a VM can boot, pupa pull against the tools one would use
# instead, measured side by side in one run, served by nginx on 127.0.0.1:
#
#   pupa pull        URL -> finished, cached ext4 image
#   curl | bsdtar    URL -> a directory
#   bsdtar + mke2fs  URL -> a directory -> ext4 image (mke2fs -d)
#   decompress only  gzip -dc / xz -dc / zstd -dc of the file > /dev/null
#                    (and for gzip igzip -dc, ISA-L's own tool, and pigz -dc)
#
# The tree is Debian bookworm minbase from debootstrap (cached in
# ~/.cache/pupa-build/minbase; needs root and Debian's mirror), tarred with
# numeric owners and xattrs, compressed with gzip, xz and zstd. It also
# checks the pulled image entry by entry against the tarball (imgcmp).
# Prints min / median / max seconds per row and the ratios. No KVM needed.
set -euo pipefail
runs=${1:-5}
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
pupa=$top_builddir/container/pupa
imgcmp=$top_builddir/tests/tools/imgcmp
cache=${PUPA_BUILD_CACHE:-$HOME/.cache/pupa-build}/minbase
mirror=${DEBIAN_MIRROR:-$("$top_srcdir/tests/install-deps" --print-mirror)}
export PATH=$PATH:/usr/sbin:/sbin
. "$top_srcdir/tests/tools/nginx.sh"

for tool in debootstrap bsdtar curl mke2fs gzip igzip pigz xz zstd nginx; do
	command -v $tool > /dev/null || { echo "bench: $tool is missing (tests/install-deps installs it)" >&2; exit 1; }
done
[ -x "$pupa" ] && [ -x "$imgcmp" ] || { echo "bench: build first (make && make check)" >&2; exit 1; }

. "$top_srcdir/bench/minbase.sh"

work=$(mktemp -d "${TMPDIR:-/var/tmp}/pupa-bench.XXXXXX")
trap 'nginx_stop; rm -rf "$work"' EXIT
mkdir -p "$work/www"
for c in gz xz zst; do ln "$tarball.$c" "$work/www/" 2> /dev/null || cp "$tarball.$c" "$work/www/"; done
nginx_start "$work/www" "$work/nginx"

now() { date +%s.%N; }
# stats TIMES...: "min median max"
stats() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f %.3f %.3f", v[1], v[int((NR + 1) / 2)], v[NR] }'; }
median() { stats "$@" | cut -d' ' -f2; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "bench: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $runs runs each"
echo "tree: $(du -sh --apparent-size "$cache/rootfs" | cut -f1) in $(find "$cache/rootfs" | wc -l) entries;" \
	"tarballs: gz $(du -h "$tarball.gz" | cut -f1), xz $(du -h "$tarball.xz" | cut -f1), zst $(du -h "$tarball.zst" | cut -f1)"
printf '%-8s %-18s %8s %8s %8s\n' format method min median max
for c in gz xz zst; do
	url=http://127.0.0.1:$nginx_port/bookworm-minbase.tar.$c
	case $c in gz) dec="gzip -dc" ;; xz) dec="xz -dc" ;; zst) dec="zstd -dc" ;; esac
	declare -a t_pull=() t_bsdtar=() t_mke2fs=() t_dec=() t_igzip=() t_pigz=()
	for i in $(seq "$runs"); do
		rm -rf "$work/cache" "$work/dir" "$work/img"
		t0=$(now); "$pupa" pull -q --cache-dir "$work/cache" "$url" > "$work/digest"; t1=$(now)
		t_pull+=("$(echo "$t1 - $t0" | bc)")

		mkdir "$work/dir"
		t0=$(now); curl -s "$url" | bsdtar -x --xattrs --numeric-owner -p -f - -C "$work/dir"; t1=$(now)
		t_bsdtar+=("$(echo "$t1 - $t0" | bc)")
		rm -rf "$work/dir"; mkdir "$work/dir"

		t0=$(now)
		curl -s "$url" | bsdtar -x --xattrs --numeric-owner -p -f - -C "$work/dir"
		size=$(( $(du -s -B1M "$work/dir" | cut -f1) * 5 / 4 + 256 ))
		: > "$work/img"
		mke2fs -q -F -t ext4 -O ^has_journal -E lazy_itable_init=1,nodiscard -d "$work/dir" "$work/img" "${size}M"
		t1=$(now)
		t_mke2fs+=("$(echo "$t1 - $t0" | bc)")

		t0=$(now); $dec < "$tarball.$c" > /dev/null; t1=$(now)
		t_dec+=("$(echo "$t1 - $t0" | bc)")
		if [ "$c" = gz ]; then
			t0=$(now); igzip -dc < "$tarball.$c" > /dev/null; t1=$(now)
			t_igzip+=("$(echo "$t1 - $t0" | bc)")
			t0=$(now); pigz -dc < "$tarball.$c" > /dev/null; t1=$(now)
			t_pigz+=("$(echo "$t1 - $t0" | bc)")
		fi
	done
	printf '%-8s %-18s %8s %8s %8s\n' "tar.$c" "pupa pull" $(stats "${t_pull[@]}")
	printf '%-8s %-18s %8s %8s %8s\n' "tar.$c" "curl | bsdtar -x" $(stats "${t_bsdtar[@]}")
	printf '%-8s %-18s %8s %8s %8s\n' "tar.$c" "bsdtar + mke2fs -d" $(stats "${t_mke2fs[@]}")
	printf '%-8s %-18s %8s %8s %8s\n' "tar.$c" "$dec (alone)" $(stats "${t_dec[@]}")
	if [ "$c" = gz ]; then
		printf '%-8s %-18s %8s %8s %8s\n' "tar.$c" "igzip -dc (alone)" $(stats "${t_igzip[@]}")
		printf '%-8s %-18s %8s %8s %8s\n' "tar.$c" "pigz -dc (alone)" $(stats "${t_pigz[@]}")
		r_igzip=$(ratio "$(median "${t_pull[@]}")" "$(median "${t_igzip[@]}")")
		r_pigz=$(ratio "$(median "${t_pull[@]}")" "$(median "${t_pigz[@]}")")
	fi
	eval "r_mke2fs_$c=$(ratio "$(median "${t_pull[@]}")" "$(median "${t_mke2fs[@]}")")"
	eval "r_dec_$c=$(ratio "$(median "${t_pull[@]}")" "$(median "${t_dec[@]}")")"
	eval "r_bsdtar_$c=$(ratio "$(median "${t_pull[@]}")" "$(median "${t_bsdtar[@]}")")"
	if [ "$c" = gz ]; then
		digest=$(sed -n 's/^sha256://p' "$work/digest")
		"$imgcmp" "$tarball.gz" "$work/cache/images/$digest.ext4" > "$work/cmp" || { cat "$work/cmp"; exit 1; }
		check="$(tail -1 "$work/cmp")"
	fi
done
echo "ratios of medians (pupa pull / other; below 1 is faster):"
for c in gz xz zst; do
	eval "echo \"  tar.$c: vs bsdtar + mke2fs -d \$r_mke2fs_$c; vs curl | bsdtar -x \$r_bsdtar_$c; vs decompression alone \$r_dec_$c\""
done
echo "  tar.gz: vs igzip -dc $r_igzip; vs pigz -dc $r_pigz (pupa's gzip: $("$pupa" --version | sed -n 's/^gzip: //p'))"
echo "image check (tar.gz): $check"
