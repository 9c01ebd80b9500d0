#!/bin/sh
# mklist.sh BUSYBOX SRCDIR: the mkcpio list of the default image, a small
# root filesystem made of Debian's static busybox: /bin/busybox, a link for
# each of its applets, /etc/passwd and /etc/group, and the usual folders.
set -eu
busybox=$1
src=$2
for d in bin dev etc home proc run sbin sys usr usr/bin usr/sbin var var/log; do
	echo "dir /$d 0755 0 0"
done
echo "dir /root 0700 0 0"
echo "dir /tmp 1777 0 0"
echo "file /bin/busybox $busybox 0755 0 0"
"$busybox" --list | sort -u | while read -r applet; do
	[ "$applet" = busybox ] || echo "slink /bin/$applet busybox 0777 0 0"
done
echo "file /etc/passwd $src/passwd 0644 0 0"
echo "file /etc/group $src/group 0644 0 0"
