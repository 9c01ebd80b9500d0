# SPDX-License-Identifier: MIT
# Networking: slirp in pupa-vmm, DNS, -p, --network none, and floods that
# must not grow pupa-vmm. Every check runs in net-inner.sh inside
# "unshare -n -m" (only lo, so nothing leaves the machine; its own
# /etc/resolv.conf), natively and in the test host alike.

net_dir=$WORK/net
mkdir -p "$net_dir/stage/bin"
# The default image plus net-tool (what busybox lacks: UDP echo, floods).
gzip -dc "$top_builddir/images/default-rootfs.tar.gz" > "$net_dir/image.tar"
cp "$top_builddir/tests/kvm/net-tool" "$net_dir/stage/bin/net-tool"
tar -rf "$net_dir/image.tar" -C "$net_dir/stage" --no-recursion bin/net-tool
export XDG_CACHE_HOME=$WORK/xdg-cache
export TMPDIR=$WORK/tmp
mkdir -p "$TMPDIR"

# /dev/fd may be missing (the test host): through a file, not <(...).
unshare -n -m bash "$top_srcdir/tests/kvm/net-inner.sh" "$net_dir/image.tar" "$net_dir" \
	> "$net_dir/inner.tap" 2>&1 || echo "not ok net: net-inner.sh ended with status $?" >> "$net_dir/inner.tap"
while IFS= read -r line; do
	case $line in
	"ok "*) ok "${line#ok }" ;;
	"not ok "*) not_ok "${line#not ok }" ;;
	"#"*) echo "$line" ;;
	*) echo "# $line" ;;
	esac
done < "$net_dir/inner.tap"
