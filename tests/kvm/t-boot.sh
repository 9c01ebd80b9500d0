# Booting: our bzImage, our vmlinux through PVH, Debian's stock kernel;
# vCPU count, memory size, and the boot device tree read back in the guest.

cat > "$WORK/marker.sh" <<'T'
echo "RESULT uptime=$(cut -d' ' -f1 /proc/uptime)"
T
make_initramfs "$WORK/marker.cpio" "$WORK/marker.sh"

if run_vm bzimage --kernel "$BZIMAGE" --initrd "$WORK/marker.cpio" --cmdline "console=ttyS0 quiet loglevel=1"; then
	ok "bzImage boots to init and the guest's reboot ends pupa-vmm with status 0"
	diag "bzImage: guest at init after $(guest_value uptime) s uptime, $vm_wall s wall for the whole run"
else
	not_ok "bzImage boots to init and the guest's reboot ends pupa-vmm with status 0"
fi

if run_vm pvh --kernel "$VMLINUX" --initrd "$WORK/marker.cpio" --cmdline "console=ttyS0 quiet loglevel=1"; then
	ok "vmlinux boots through the PVH entry"
	diag "PVH vmlinux: guest at init after $(guest_value uptime) s uptime, $vm_wall s wall"
else
	not_ok "vmlinux boots through the PVH entry"
fi

if [ -z "${PUPA_STOCK_KERNEL:-}" ] || [ ! -f "$PUPA_STOCK_KERNEL" ]; then
	not_ok "Debian's stock kernel boots (PUPA_STOCK_KERNEL not set: run through suite.tap)"
elif run_vm stock --kernel "$PUPA_STOCK_KERNEL" --initrd "$WORK/marker.cpio" --memory 512 \
	--cmdline "console=ttyS0 quiet loglevel=1"; then
	ok "Debian's stock kernel boots to init"
	diag "stock kernel: guest at init after $(guest_value uptime) s uptime, $vm_wall s wall"
else
	not_ok "Debian's stock kernel boots to init"
fi

cat > "$WORK/cpus.sh" <<'T'
echo "RESULT online=$(cat /sys/devices/system/cpu/online)"
echo "RESULT processors=$(grep -c ^processor /proc/cpuinfo)"
T
make_initramfs "$WORK/cpus.cpio" "$WORK/cpus.sh"
if run_vm cpus --kernel "$BZIMAGE" --initrd "$WORK/cpus.cpio" --cpus 2 --cmdline "console=ttyS0 quiet loglevel=1" &&
   [ "$(guest_value online)" = "0-1" ] && [ "$(guest_value processors)" = 2 ]; then
	ok "--cpus 2 shows 2 online CPUs in the guest"
else
	not_ok "--cpus 2 shows 2 online CPUs in the guest (online=$(guest_value online), processors=$(guest_value processors))"
fi

cat > "$WORK/mem.sh" <<'T'
echo "RESULT memtotal=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
T
make_initramfs "$WORK/mem.cpio" "$WORK/mem.sh"
mem_between() { local v=$1; [ -n "$v" ] && [ "$v" -ge "$2" ] && [ "$v" -le "$3" ]; }
if run_vm mem256 --kernel "$BZIMAGE" --initrd "$WORK/mem.cpio" --memory 256 --cmdline "console=ttyS0 quiet loglevel=1" &&
   mem_between "$(guest_value memtotal)" 220000 262144; then
	ok "--memory 256 shows about 256 MiB ($(guest_value memtotal) kB MemTotal)"
else
	not_ok "--memory 256 shows about 256 MiB (MemTotal $(guest_value memtotal) kB)"
fi
# Above the 3 GiB MMIO hole, RAM continues at 4 GiB.
if run_vm mem3584 --kernel "$BZIMAGE" --initrd "$WORK/mem.cpio" --memory 3584 --cmdline "console=ttyS0 quiet loglevel=1" &&
   mem_between "$(guest_value memtotal)" 3400000 3670016; then
	ok "--memory 3584 splits around the MMIO hole and the guest sees it all ($(guest_value memtotal) kB)"
else
	not_ok "--memory 3584 splits around the MMIO hole (MemTotal $(guest_value memtotal) kB)"
fi

# The boot device tree and the RNG seed, read back from setup_data.
cat > "$WORK/fdt.sh" <<'T'
for d in /sys/kernel/boot_params/setup_data/*; do
	echo "RESULT type$(basename "$d")=$(cat "$d/type")"
done
/bin/fdt-dump | sed 's/^/RESULT /'
T
make_initramfs "$WORK/fdt.cpio" "$WORK/fdt.sh" "file /bin/fdt-dump $top_builddir/tests/kvm/guest-fdt-dump 0755 0 0"
if run_vm fdt --kernel "$BZIMAGE" --initrd "$WORK/fdt.cpio" --cpus 2 --memory 128 \
	--boot-prop agent-port=1024 --boot-prop "hostname=pupa test" --boot-prop version=1 \
	--cmdline "console=ttyS0 quiet loglevel=1"; then
	fdt_ok=1
	for want in "pupa.agent-port=1024" "pupa.hostname=pupa test" "pupa.version=1" "cpus=2" \
		    "memory=0x0+0x8000000"; do
		if ! grep -qxF "RESULT $want" "$vm_console"; then
			diag "fdt: guest did not report '$want'"
			fdt_ok=0
		fi
	done
	grep -q '^RESULT type[0-9]*=0x2$' "$vm_console" || { diag "fdt: no setup_data of type 2"; fdt_ok=0; }
	grep -q '^RESULT type[0-9]*=0x9$' "$vm_console" || { diag "fdt: no setup_data of type 9 (RNG seed)"; fdt_ok=0; }
	[ $fdt_ok = 1 ] || show_console 20
	check "boot FDT: /chosen/pupa properties, CPUs and memory read back in the guest; RNG seed present" \
		[ $fdt_ok = 1 ]
else
	not_ok "boot FDT: /chosen/pupa properties, CPUs and memory read back in the guest; RNG seed present"
fi

# kvm-suite: resets on purpose (run-all.sh runs this file once, whatever is traced).
# A triple fault ends pupa-vmm with status 0 and says so. The guest asks
# for one (x86 Linux reboots by triple fault when told to); in the test
# host, run-all.sh's trace of such exits shows it with its RIP.
cat > "$WORK/triple.sh" <<'T'
echo triple > /sys/kernel/reboot/type
T
make_initramfs "$WORK/triple.cpio" "$WORK/triple.sh"
if run_vm triple --kernel "$BZIMAGE" --initrd "$WORK/triple.cpio" --cmdline "console=ttyS0 quiet loglevel=1" &&
   grep -q 'stopped: guest shut down (triple fault or reset)' "$WORK/triple.stderr"; then
	ok "a guest's triple fault ends pupa-vmm with status 0, and its log says so"
else
	not_ok "a guest's triple fault ends pupa-vmm with status 0, and its log says so"
	sed 's/^/#   | /' "$WORK/triple.stderr"
fi
