/* SPDX-License-Identifier: GPL-2.0 */
/*
 * arm64 Guarded Control Stack basics for the tests: libshstk's public
 * shstk_gcs.h (userspace/include/), as arch.h takes shstk_cet.h on x86:
 * SHSTK_PRCTL(), SHSTK_ENABLE_HERE(), shstk_get_ssp(), the PR_* and
 * HWCAP_GCS constants. glibc turns GCS on only for binaries marked for it
 * and when its tunable asks; the tests do it themselves with prctl().
 */
#ifndef SHSTK_TEST_GCS_H
#define SHSTK_TEST_GCS_H

#include "shstk_gcs.h"

#endif /* SHSTK_TEST_GCS_H */
