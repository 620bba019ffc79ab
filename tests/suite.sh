# SPDX-License-Identifier: GPL-2.0
#
# The guest test suite (sourced by tests/check and tests/debug-check):
# the programs guest-suite runs, in order, and the files they need next
# to them. lifetime_test stays last: it reloads the module without
# parameters.
SHSTK_SUITE=(info_test cet_smoke_test alloc_test clone_test usage_test policy_test install_test
	lib_test badinput_test race_test fault_test cli-test launcher-test fuzz-run lifetime_test)
# What cli-test, launcher-test and fuzz-run run next to them in the guest.
SHSTK_SUITE_FILES=(shstkctl threads json_check run_as many_threads man_example shstk_fuzz)
# The arm64 GCS guest's suite (tests/vm/run --gcs), cross-built by
# `make -C tests gcs` into tests/build/arm64/: the kselftest programs so far
# (libshstk, shstkctl and the fuzzer do not build for arm64 yet).
SHSTK_GCS_SUITE=(info_test cet_smoke_test alloc_test clone_test usage_test policy_test install_test
	badinput_test race_test fault_test lifetime_test)
