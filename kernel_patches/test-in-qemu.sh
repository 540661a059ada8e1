#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Build Debian 12's linux-source-6.1 twice (unpatched, then with the
# series in linux-6.1/ applied, incrementally in the same tree), boot each
# in qemu (2 vCPUs, SMP kernel) with a static test program as /init, and
# check: on the patched kernel the io_uring futex opcodes 51-53 are
# present and work natively; on the unpatched kernel they are absent and
# the futex(2)/futex_waitv(2) fallback works.
#
# Ends with one line "N passed, N failed"; exits non-zero on any build,
# boot or test failure. Every step that could hang is bounded by timeout.
#
# Runs as root on a fresh Debian 12 (bookworm) machine; needs only
# Debian's package archive. Environment:
#   RINGLOCK_QEMU_WORKDIR      build directory (default /tmp/ringlock-qemu);
#                              wiped at start, never inside a git tree
#   RINGLOCK_QEMU_EXTRA_TESTS  space-separated paths of extra static test
#                              binaries; each is copied into the initramfs,
#                              run by /init on both kernels, and counted as
#                              one test (exit status 0 = pass)
#   RINGLOCK_QEMU_DEBUG=1      also build and boot a lockdep+KASAN kernel
#                              with the series (adds ~5 min)
#   RINGLOCK_QEMU_ACCEL        qemu accelerator (default tcg; "kvm" where
#                              KVM works)
#   RINGLOCK_QEMU_SKIP_APT=1   don't run apt-get (packages already there)
#   RINGLOCK_QEMU_REUSE=1      developer shortcut: reuse the two kernels of a
#                              previous run in the same work dir and only
#                              rebuild the tests and boot (not for CI)
#   JOBS                       make -j (default: number of CPUs)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=${RINGLOCK_QEMU_WORKDIR:-/tmp/ringlock-qemu}
JOBS=${JOBS:-$(nproc)}
ACCEL=${RINGLOCK_QEMU_ACCEL:-tcg}
EXTRA_TESTS=${RINGLOCK_QEMU_EXTRA_TESTS:-}
DEBUG_KERNEL=${RINGLOCK_QEMU_DEBUG:-0}
TESTED_VERSION=6.1.192-2	# linux-source-6.1 version the series was made on

# Bounds (seconds)
T_BUILD=1200	# one kernel build (757 s seen on a 2-vCPU VM under heavy load)
T_BOOT=300	# one qemu run, boot to power-off

PACKAGES="linux-source-6.1 qemu-system-x86 flex bison cpio libelf-dev
	  libssl-dev bc make gcc libc6-dev patch xz-utils liburing-dev"

# Options on top of tinyconfig: a bootable SMP x86-64 with a serial
# console, initramfs, ELF binaries, /proc, futex and io_uring. ACPI is
# needed for the second CPU, PCI with it for poweroff; X86_IOPL_IOPERM
# lets /init report through qemu's isa-debug-exit port.
KCONFIG_ON="64BIT PRINTK TTY SERIAL_8250 SERIAL_8250_CONSOLE BLK_DEV_INITRD
	    BINFMT_ELF BINFMT_SCRIPT PROC_FS SYSFS DEVTMPFS FUTEX IO_URING
	    EPOLL EVENTFD TIMERFD SHMEM TMPFS MULTIUSER SMP ACPI PCI
	    X86_IOPL_IOPERM"
KCONFIG_DEBUG="DEBUG_KERNEL PROVE_LOCKING DEBUG_ATOMIC_SLEEP SLUB SLUB_DEBUG
	       KASAN KASAN_GENERIC DEBUG_LIST KALLSYMS STACKTRACE"

PASSED=0
FAILED=0
SUMMARY=()

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() {
	log "ERROR: $*"
	echo "$PASSED passed, $((FAILED + 1)) failed"
	exit 1
}
record() {	# record PASS|FAIL name [detail]
	if [ "$1" = PASS ]; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
	SUMMARY+=("$1 $2${3:+ ($3)}")
}

# ---------------------------------------------------------------- packages
install_packages() {
	if [ "${RINGLOCK_QEMU_SKIP_APT:-0}" = 1 ]; then
		return
	fi
	local missing=() p
	for p in $PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		[ "$(id -u)" = 0 ] || die "need root to install: ${missing[*]}"
		log "installing: ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		timeout 900 apt-get update -qq || die "apt-get update failed"
		timeout 1800 apt-get install -y -qq --no-install-recommends \
			"${missing[@]}" >/dev/null || die "apt-get install failed"
	fi
}

# ---------------------------------------------------------------- kernel
configure_kernel() {	# configure_kernel SRC OUT [extra options]
	local src=$1 out=$2
	shift 2
	local args=() o
	mkdir -p "$out"
	make -C "$src" O="$out" -s tinyconfig >/dev/null
	for o in $KCONFIG_ON "$@"; do args+=(-e "$o"); done
	# KASAN needs SLUB; tinyconfig picks SLOB
	if [ $# -gt 0 ]; then args+=(-d SLOB); fi
	"$src/scripts/config" --file "$out/.config" "${args[@]}"
	make -C "$src" O="$out" -s olddefconfig >/dev/null
	for o in $KCONFIG_ON "$@"; do
		grep -q "^CONFIG_$o=y" "$out/.config" ||
			die "CONFIG_$o could not be enabled"
	done
}

build_kernel() {	# build_kernel SRC OUT LABEL
	local t0=$SECONDS
	log "building $3 kernel (make -j$JOBS bzImage)"
	# Never pass DEBUG= etc. into this make: tools/ would rebuild objtool
	# and everything with it.
	if ! timeout "$T_BUILD" env -u DEBUG make -C "$1" O="$2" -j"$JOBS" -s \
		bzImage >"$WORK/build-$3.log" 2>&1; then
		tail -n 40 "$WORK/build-$3.log"
		die "$3 kernel build failed or timed out (log: $WORK/build-$3.log)"
	fi
	log "$3 kernel built in $((SECONDS - t0)) s"
	record PASS "build-$3" "$((SECONDS - t0)) s"
}

# ---------------------------------------------------------------- tests
build_userspace() {
	log "building static test binaries"
	mkdir -p "$WORK/bin"
	gcc -O2 -Wall -static -pthread "$HERE/tests/uring_futex_test.c" \
		-o "$WORK/bin/uring_futex_test" -luring ||
		die "building uring_futex_test failed"
	gcc -O2 -Wall -static "$HERE/tests/qemu_init.c" -o "$WORK/bin/init" ||
		die "building qemu_init failed"
	gcc -O2 -o "$WORK/bin/gen_init_cpio" "$SRC/usr/gen_init_cpio.c" ||
		die "building gen_init_cpio failed"
}

make_initramfs() {	# make_initramfs OUT.cpio EXPECT(native|fallback)
	local list=$WORK/initramfs-$2.list tests=$WORK/tests-$2.list p n=0
	{
		echo "dir /dev 0755 0 0"
		echo "nod /dev/console 0600 0 0 c 5 1"
		echo "dir /proc 0555 0 0"
		echo "dir /tmp 1777 0 0"
		echo "dir /tests 0755 0 0"
		echo "file /init $WORK/bin/init 0755 0 0"
		echo "file /tests/uring_futex_test $WORK/bin/uring_futex_test 0755 0 0"
		echo "file /tests/list $tests 0644 0 0"
	} >"$list"
	echo "/tests/uring_futex_test --expect=$2" >"$tests"
	for p in $EXTRA_TESTS; do
		[ -f "$p" ] || die "RINGLOCK_QEMU_EXTRA_TESTS: no such file: $p"
		if command -v file >/dev/null &&
		   file -L "$p" | grep -q 'dynamically linked'; then
			die "RINGLOCK_QEMU_EXTRA_TESTS: $p is not static"
		fi
		n=$((n + 1))
		echo "file /tests/extra$n-$(basename "$p") $(readlink -f "$p") 0755 0 0" >>"$list"
		echo "/tests/extra$n-$(basename "$p")" >>"$tests"
	done
	"$WORK/bin/gen_init_cpio" "$list" >"$1" || die "gen_init_cpio failed"
}

boot_and_check() {	# boot_and_check BZIMAGE LABEL EXPECT
	local kernel=$1 label=$2 expect=$3
	local cpio=$WORK/initramfs-$expect.cpio out=$WORK/qemu-$label.log
	local rc=0 t0=$SECONDS accel_args=()

	make_initramfs "$cpio" "$expect"
	# la57=off: with 5-level paging, one boot of the KASAN kernel in ~6
	# reported a wild access in rcu_is_watching() from identify_boot_cpu(),
	# long before /init; 4-level paging keeps the debug run deterministic.
	if [ "$ACCEL" = kvm ]; then accel_args=(-enable-kvm -cpu host);
	else accel_args=(-accel tcg -cpu "max,la57=off"); fi
	log "booting $label kernel in qemu ($ACCEL, -smp 2), expecting $expect"
	timeout -k 10 "$T_BOOT" qemu-system-x86_64 "${accel_args[@]}" \
		-smp 2 -m 512 -nographic -no-reboot -monitor none \
		-serial stdio -display none \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-kernel "$kernel" -initrd "$cpio" \
		-append "console=ttyS0 panic=-1 oops=panic loglevel=4" \
		</dev/null >"$out" 2>&1 || rc=$?
	tr -d '\r' <"$out" >"$out.txt"
	log "$label: qemu exited with $rc after $((SECONDS - t0)) s"

	echo "----- $label: test output -----"
	sed -n 's/.*INIT START/INIT START/; /INIT START/,/^INIT DONE/p' "$out.txt" |
		grep -Ev '^(input|serio|i8042|ACPI|tsc|clocksource):' || true
	echo "----- end of $label -----"

	local p f line name detail
	# individual test cases of uring_futex_test
	p=$(grep -c '^PASS ' "$out.txt" || true)
	f=$(grep -c '^FAIL ' "$out.txt" || true)
	while read -r line; do
		name=${line#PASS }
		record PASS "$label: $name"
	done < <(grep '^PASS ' "$out.txt" || true)
	while read -r line; do
		name=${line#FAIL }
		record FAIL "$label: $name"
	done < <(grep '^FAIL ' "$out.txt" || true)
	# extra binaries count once each
	while read -r line; do
		name=${line#BINARY }
		case "$name" in
		/tests/uring_futex_test*) ;;	# counted by its cases
		*": PASS"*) record PASS "$label: ${name%%: *}" ;;
		*) detail=${name#*: FAIL (}
		   record FAIL "$label: ${name%%: *}" "${detail%)}" ;;
		esac
	done < <(grep '^BINARY ' "$out.txt" || true)

	# whole-boot checks: completed, verdict port, kernel health
	if ! grep -q '^INIT DONE' "$out.txt"; then
		record FAIL "$label: boot" "no 'INIT DONE' (qemu rc $rc; log $out)"
		tail -n 30 "$out.txt"
	elif [ "$rc" != 33 ] && [ "$rc" != 35 ]; then
		record FAIL "$label: boot" "qemu exit $rc, not an isa-debug-exit verdict"
	elif [ "$p" = 0 ]; then
		record FAIL "$label: boot" "no test results"
	else
		record PASS "$label: boot" "$((SECONDS - t0)) s, $p cases passed, $f failed"
	fi
	if [ "$rc" = 35 ] && [ "$f" = 0 ]; then
		# a binary failed without a FAIL case line (crash, extra test)
		grep -q ': FAIL' "$out.txt" ||
			record FAIL "$label: verdict" "isa-debug-exit reported failure"
	fi
	if grep -Eq 'BUG:|WARNING:|Oops|Kernel panic|possible circular|INFO: task .* blocked' "$out.txt"; then
		record FAIL "$label: kernel log clean" "see $out.txt"
		grep -E -A20 'BUG:|WARNING:|Oops|Kernel panic|possible circular|INFO: task' "$out.txt" | head -60
	else
		record PASS "$label: kernel log clean"
	fi
}

# ---------------------------------------------------------------- main
main() {
	local ver patches p
	log "ringlock kernel_patches qemu test; work dir $WORK, make -j$JOBS"
	case "$WORK" in /|"") die "bad RINGLOCK_QEMU_WORKDIR";; esac
	install_packages
	ver=$(dpkg-query -W -f='${Version}' linux-source-6.1) ||
		die "linux-source-6.1 not installed"
	log "linux-source-6.1 version $ver (series made on $TESTED_VERSION)"
	[ "$ver" = "$TESTED_VERSION" ] ||
		log "WARNING: different linux-source-6.1 version; the series may need a refresh"

	SRC=$WORK/linux-source-6.1
	mapfile -t patches < <(find "$HERE/linux-6.1" -maxdepth 1 -name "*.patch" | sort)
	[ ${#patches[@]} -gt 0 ] || die "no patches in $HERE/linux-6.1"

	if [ "${RINGLOCK_QEMU_REUSE:-0}" = 1 ] &&
	   [ -f "$WORK/bzImage-unpatched" ] && [ -f "$WORK/bzImage-patched" ]; then
		log "RINGLOCK_QEMU_REUSE=1: reusing the kernels in $WORK"
		build_userspace
		boot_and_check "$WORK/bzImage-unpatched" unpatched fallback
		boot_and_check "$WORK/bzImage-patched" patched native
		finish
		return
	fi

	rm -rf "$WORK"
	mkdir -p "$WORK"
	log "extracting /usr/src/linux-source-6.1.tar.xz"
	timeout 600 tar -C "$WORK" -xf /usr/src/linux-source-6.1.tar.xz ||
		die "extracting the kernel source failed"
	[ -f "$SRC/Makefile" ] || die "unexpected tarball layout"

	build_userspace

	# 1. unpatched kernel
	configure_kernel "$SRC" "$WORK/build"
	build_kernel "$SRC" "$WORK/build" unpatched
	cp "$WORK/build/arch/x86/boot/bzImage" "$WORK/bzImage-unpatched"

	# 2. apply the series, rebuild incrementally in the same tree
	for p in "${patches[@]}"; do
		log "applying $(basename "$p")"
		patch -d "$SRC" -p1 --forward --batch --quiet <"$p" ||
			die "patch $(basename "$p") does not apply"
	done
	record PASS "series applies" "${#patches[@]} patches"
	build_kernel "$SRC" "$WORK/build" patched
	cp "$WORK/build/arch/x86/boot/bzImage" "$WORK/bzImage-patched"

	# 3. boot both
	boot_and_check "$WORK/bzImage-unpatched" unpatched fallback
	boot_and_check "$WORK/bzImage-patched" patched native

	# 4. optional debug kernel
	if [ "$DEBUG_KERNEL" = 1 ]; then
		# shellcheck disable=SC2086
		configure_kernel "$SRC" "$WORK/build-debug" $KCONFIG_DEBUG
		build_kernel "$SRC" "$WORK/build-debug" debug
		boot_and_check "$WORK/build-debug/arch/x86/boot/bzImage" \
			patched-debug native
	fi

	finish
}

finish() {
	echo
	echo "===== summary ($((SECONDS / 60)) min $((SECONDS % 60)) s) ====="
	printf '%s\n' "${SUMMARY[@]}"
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" = 0 ]
}

main "$@"
