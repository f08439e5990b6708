// SPDX-License-Identifier: MIT
#include <errno.h>

#include "console.h"
#include "devices.h"
#include "domain.h"
#include "evtchn.h"
#include "netback.h"
#include "timer.h"

/*
 * pvft-hv runs one domain: its vif lives here. The event channels and the
 * timer keep their state in the domain (evtchn, sched): their struct
 * device holds nothing else, and one serves any domain.
 */
static struct netback vif0;
static struct device evtchn_dev = { .ops = &evtchn_device_ops };
static struct device timer_dev = { .ops = &timer_device_ops };

int devices__probe(struct domain *d, const struct devices_config *cfg)
{
	int rc;

	rc = device__register(d, &evtchn_dev);
	if (!rc)
		rc = device__register(d, &timer_dev);
	if (!rc)
		rc = console__probe(d, &cfg->console_out, &cfg->console_live);
	if (rc || !cfg->vif)
		return rc ? rc : netback__probe(d, NULL);
	rc = netback__init(&vif0, cfg->vif, d, cfg->passive);
	if (rc)
		return rc;
	vif0.spec = cfg->vif_spec;
	return netback__probe(d, &vif0);
}
