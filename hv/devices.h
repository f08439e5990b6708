/* SPDX-License-Identifier: MIT */
/*
 * The board: which devices a pvft domain has (devices.c lists them, the
 * one file that names them all). Everything else walks d->devices.
 */
#ifndef PVFT_HV_DEVICES_H
#define PVFT_HV_DEVICES_H

#include <stdbool.h>

#include "consink.h"
#include "vifspec.h"

struct domain;

struct devices_config {
	struct console_sink console_out;  /* where released output goes */
	struct console_sink console_live; /* a backup's, once it is live */
	const struct vif_config *vif;	  /* vif 0, or NULL for none */
	const char *vif_spec;		  /* its --vif option, for status */
	bool passive;			  /* a backup's: no host side yet */
};

/*
 * The domain's devices, registered in level order: the event channels,
 * the timer, the console, the vif (or its absence). 0 or -errno.
 */
int devices__probe(struct domain *d, const struct devices_config *cfg);

#endif /* PVFT_HV_DEVICES_H */
