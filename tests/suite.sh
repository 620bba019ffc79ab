# SPDX-License-Identifier: GPL-2.0
#
# The guest test suite (sourced by tests/check and tests/debug-check):
# the programs guest-suite runs, in order, and the files they need next
# to them. lifetime_test stays last: it reloads the module without
# parameters.
SHSTK_SUITE=(info_test cet_smoke_test alloc_test clone_test usage_test policy_test install_test
	lib_test clone3_upstream_test badinput_test race_test fault_test cli-test launcher-test
	measure-test fuzz-run lifetime_test)
# What cli-test, launcher-test, measure-test and fuzz-run run next to them in the guest.
SHSTK_SUITE_FILES=(shstkctl threads json_check run_as many_threads man_example depths shstk_fuzz)
# The race tests, run again in a two-CPU CET guest (tests/check's
# "cet2"), where both sides really run at once; each prints how often
# each side won ("# race: ..."). PROG:TEST picks tests of a program.
SHSTK_RACE_SUITE=(race_test clone_test:racing_clones_on_one_token_have_one_winner
	install_test:target_killed_while_install_pending lib_test:concurrent_first_calls_share_one_fd
	lifetime_test:unload_while_usage_calls_run_in_other_threads:unload_with_armed_threads_leaves_them_the_kernels_rule)
# The arm64 GCS guest's suite (tests/vm/run --gcs), cross-built by
# `make -C tests gcs` into tests/build/arm64/, and the files its programs
# and scripts run next to them.
SHSTK_GCS_SUITE=(info_test cet_smoke_test alloc_test clone_test usage_test policy_test install_test
	clone3_upstream_test lib_test badinput_test race_test fault_test fuzz-run cli-test launcher-test
	measure-test lifetime_test)
SHSTK_GCS_SUITE_FILES=(shstkctl threads json_check run_as many_threads man_example depths shstk_fuzz)
# The RISC-V Zicfiss guest's suite (tests/vm/run --zicfiss), cross-built by
# `make -C tests riscv` into tests/build/riscv64/ (with sspush/sspopchk:
# -march=rv64gc_zicfiss -fcf-protection=return; the fuzzer does not build
# for riscv64 yet), and the files its scripts run next to them.
SHSTK_RISCV_SUITE=(info_test cet_smoke_test alloc_test clone_test usage_test policy_test install_test
	clone3_upstream_test lib_test badinput_test race_test fault_test fuzz-run cli-test launcher-test
	measure-test lifetime_test)
SHSTK_RISCV_SUITE_FILES=(shstkctl threads json_check run_as many_threads man_example depths shstk_fuzz)
