#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/isolated.sh CMD [ARG...]: CMD in a network namespace of its own
# with only lo up, so nothing it runs (pupa, its guests through libslirp,
# curl, skopeo) reaches another machine, and in a mount namespace where
# /etc/resolv.conf is a file of its own naming only 127.0.0.1, where no
# resolver listens: the machine's real resolver is never asked. The
# benchmarks' servers (nginx, the registry, published ports) all listen on
# 127.0.0.1, as the KVM suite's network checks do (tests/kvm/t-net.sh).
# Needs root, as make bench does.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "bench: isolated.sh needs root (unshare -n)" >&2; exit 1; }
[ $# -gt 0 ] || { echo "usage: bench/isolated.sh CMD [ARG...]" >&2; exit 2; }
resolv=$(mktemp "${TMPDIR:-/tmp}/pupa-bench-resolv.XXXXXX")
trap 'rm -f "$resolv"' EXIT
printf 'nameserver 127.0.0.1\n' > "$resolv"
chmod 644 "$resolv"
PATH=$PATH:/usr/sbin:/sbin unshare -n -m bash -c '
	set -e
	ip link set lo up
	mount --bind "$0" /etc/resolv.conf
	[ "$(ip -o link show | cut -d: -f2 | tr -d " ")" = lo ] || { echo "bench: the namespace has more than lo" >&2; exit 1; }
	exec "$@"' "$resolv" "$@"
