#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The README's demo, run in the CET guest by tests/demo (in the arm64 GCS guest
# by tests/demo --gcs, the RISC-V one by tests/demo --zicfiss; busybox sh), next
# to shstkctl, many_threads, threads, demo and depths (tests/lib).
set -e
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "shstkctl info"
./shstkctl info

say "100 threads with 8 MiB stacks, the kernel's rule"
./many_threads 100 8388608 0
say "the same program under: shstkctl run --size 64K"
./shstkctl run --size 64K -- ./many_threads 100 8388608 65536

say "shstkctl usage of a running program (3 threads: kernel rule, SET_CLONE 64K, token stack)"
./threads --hold >/tmp/threads.out &
pid=$!
while ! grep -q ready /tmp/threads.out 2>/dev/null; do sleep 0.1; done
./shstkctl usage "$pid"
kill "$pid"
wait "$pid" || true

say "which size? shstkctl measure -- depths (threads 10, 1000, 20000 calls deep)"
./shstkctl measure -- ./depths 10:64K 1000:256K 20000:2M >/dev/null

say "SET_CLONE and ALLOC + token from C, with USAGE; a ROP attempt"
./demo
