# Sourced by the benchmarks: the Debian bookworm minbase tree they all
# use, made once with debootstrap (needs root and Debian's mirror) and
# cached in $cache, with its tarball ($tarball.{gz,xz,zst}, numeric owners
# and xattrs) and, for the OCI rows, the same tree cut into four gzip
# layers ($cache/layers/N.tar.gz).
# Needs: cache (folder), mirror (Debian mirror URL).

# --- the tree and its tarballs ---------------------------------------------------------
mkdir -p "$cache"
if [ ! -d "$cache/rootfs" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "bench: debootstrap needs root" >&2; exit 1; }
	rm -rf "$cache/rootfs.tmp"
	echo "bench: debootstrap --variant=minbase bookworm (once; cached in $cache)"
	debootstrap --variant=minbase bookworm "$cache/rootfs.tmp" "$mirror" > "$cache/debootstrap.log" 2>&1
	# What Docker's Debian images drop too: the downloaded packages.
	rm -f "$cache"/rootfs.tmp/var/cache/apt/archives/*.deb
	mv "$cache/rootfs.tmp" "$cache/rootfs"
fi
tarball=$cache/bookworm-minbase.tar
if [ ! -s "$tarball.zst" ]; then
	tar --numeric-owner --xattrs --xattrs-include='*' -C "$cache/rootfs" -cf "$tarball.tmp" .
	gzip -6 -c "$tarball.tmp" > "$tarball.gz"
	xz -6 -T0 -c "$tarball.tmp" > "$tarball.xz"
	zstd -q -19 -T0 -c "$tarball.tmp" > "$tarball.zst"
	mv "$tarball.tmp" "$tarball"
fi

# --- four layers, cut along /usr as image builders' layers tend to fall -----------------
#   1: everything outside /usr, with the root and /usr folders themselves
#   2: usr/lib   3: usr/share   4: the rest of /usr
if [ ! -s "$cache/layers/4.tar.gz" ]; then
	rm -rf "$cache/layers.tmp"
	mkdir -p "$cache/layers.tmp"
	layer_tar() { tar --numeric-owner --xattrs --xattrs-include='*' -C "$cache/rootfs" -c "$@" | gzip -6; }
	( cd "$cache/rootfs" && ls -A | grep -vx usr ) | sed 's|^|./|' > "$cache/layers.tmp/top"
	# GNU tar's --no-recursion and --recursion apply to the names after them.
	layer_tar --no-recursion . ./usr --recursion -T "$cache/layers.tmp/top" > "$cache/layers.tmp/1.tar.gz"
	layer_tar ./usr/lib > "$cache/layers.tmp/2.tar.gz"
	layer_tar ./usr/share > "$cache/layers.tmp/3.tar.gz"
	( cd "$cache/rootfs" && ls -A usr | grep -vx 'lib\|share' ) | sed 's|^|./usr/|' > "$cache/layers.tmp/rest"
	layer_tar -T "$cache/layers.tmp/rest" > "$cache/layers.tmp/4.tar.gz"
	rm -f "$cache/layers.tmp/top" "$cache/layers.tmp/rest"
	rm -rf "$cache/layers"
	mv "$cache/layers.tmp" "$cache/layers"
fi
