#!/bin/bash
# bench/oci.sh [RUNS]: a registry image to a bootable ext4 image, pupa pull
# against the pipeline one would use instead, side by side in one run:
#
#   pupa pull          REF -> finished, cached ext4 image
#   skopeo + umoci     skopeo copy to an OCI layout, umoci unpack, mke2fs -d
#   decompress only    gzip -dc of the four layer blobs, one after another
#
# The image is Debian minbase (bench/minbase.sh) cut into four gzip layers,
# pushed to Debian's docker-registry on 127.0.0.1 (plain http, no auth).
# Both sides start from an empty cache and read over the loopback. The
# pulled image is checked entry by entry against the minbase tarball
# (imgcmp). Prints min / median / max seconds per row and the ratios.
set -euo pipefail
runs=${1:-5}
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
pupa=$top_builddir/container/pupa
imgcmp=$top_builddir/tests/tools/imgcmp
cache=${PUPA_BUILD_CACHE:-$HOME/.cache/pupa-build}/minbase
mirror=${DEBIAN_MIRROR:-$("$top_srcdir/tests/install-deps" --print-mirror)}
export PATH=$PATH:/usr/sbin:/sbin
. "$top_srcdir/tests/tools/registry.sh"

for tool in debootstrap docker-registry skopeo umoci mke2fs gzip python3; do
	command -v $tool > /dev/null || { echo "bench: $tool is missing (tests/install-deps installs it)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "bench: umoci unpack keeps owners only as root" >&2; exit 1; }
[ -x "$pupa" ] && [ -x "$imgcmp" ] || { echo "bench: build first (make && make check)" >&2; exit 1; }
. "$top_srcdir/bench/minbase.sh"

work=$(mktemp -d "${TMPDIR:-/var/tmp}/pupa-bench-oci.XXXXXX")
trap 'registry_stop || true; rm -rf "$work"' EXIT
echo '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/bash"]}}' > "$work/config.json"
"$top_srcdir/tests/tools/mkoci" "$work/layout" minbase "$work/config.json" \
	"$cache"/layers/{1,2,3,4}.tar.gz > /dev/null
registry_start "$work/registry"
ref=127.0.0.1:$registry_port/bench/minbase:4
skopeo copy -q --dest-tls-verify=false "oci:$work/layout:minbase" "docker://$ref"

now() { date +%s.%N; }
stats() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f %.3f %.3f", v[1], v[int((NR + 1) / 2)], v[NR] }'; }
median() { stats "$@" | cut -d' ' -f2; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "bench: $(nproc) cores, $runs runs each"
echo "image: $ref, 4 gzip layers of $(du -ch "$cache"/layers/*.tar.gz | tail -1 | cut -f1)" \
	"($(for l in 1 2 3 4; do du -h "$cache/layers/$l.tar.gz" | cut -f1; done | paste -sd' '))," \
	"$(du -sh --apparent-size "$cache/rootfs" | cut -f1) unpacked"
declare -a t_pull=() t_other=() t_dec=()
for i in $(seq "$runs"); do
	rm -rf "$work/cache" "$work/copy" "$work/bundle" "$work/img"
	t0=$(now); "$pupa" pull -q --cache-dir "$work/cache" "$ref" > /dev/null; t1=$(now)
	t_pull+=("$(echo "$t1 - $t0" | bc)")

	t0=$(now)
	skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$work/copy:minbase"
	umoci unpack --image "$work/copy:minbase" "$work/bundle" > /dev/null
	size=$(( $(du -s -B1M "$work/bundle/rootfs" | cut -f1) * 5 / 4 + 256 ))
	: > "$work/img"
	mke2fs -q -F -t ext4 -O ^has_journal -E lazy_itable_init=1,nodiscard -d "$work/bundle/rootfs" "$work/img" "${size}M"
	t1=$(now)
	t_other+=("$(echo "$t1 - $t0" | bc)")

	t0=$(now); for l in 1 2 3 4; do gzip -dc < "$cache/layers/$l.tar.gz"; done > /dev/null; t1=$(now)
	t_dec+=("$(echo "$t1 - $t0" | bc)")
done
image=$(ls "$work"/cache/images/*.ext4)
"$imgcmp" "$tarball.gz" "$image" > "$work/cmp" || { cat "$work/cmp"; exit 1; }
printf '%-28s %8s %8s %8s\n' method min median max
printf '%-28s %8s %8s %8s\n' "pupa pull" $(stats "${t_pull[@]}")
printf '%-28s %8s %8s %8s\n' "skopeo + umoci + mke2fs -d" $(stats "${t_other[@]}")
printf '%-28s %8s %8s %8s\n' "gzip -dc of the layers" $(stats "${t_dec[@]}")
echo "ratios of medians: pupa pull / skopeo + umoci + mke2fs -d $(ratio "$(median "${t_pull[@]}")" "$(median "${t_other[@]}")");" \
	"pupa pull / decompression alone $(ratio "$(median "${t_pull[@]}")" "$(median "${t_dec[@]}")")"
echo "image check: $(tail -1 "$work/cmp")"
