/* SPDX-License-Identifier: GPL-2.0 */
#ifndef SHSTK_VERSION_H
#define SHSTK_VERSION_H

/* The one place for the version: dkms.conf and `make dist` read it here. */
#define SHSTK_VERSION "0.1.0"

#endif /* SHSTK_VERSION_H */
