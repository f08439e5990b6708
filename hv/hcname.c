// SPDX-License-Identifier: MIT
#include <stddef.h>

#include "hcname.h"
#include "pvft/abi.h"

static const char *const names[] = {
	[__HYPERVISOR_set_trap_table] = "set_trap_table",
	[__HYPERVISOR_console_io] = "console_io",
	[__HYPERVISOR_sched_op] = "sched_op",
	[__HYPERVISOR_set_timer_op] = "set_timer_op",
	[__HYPERVISOR_xen_version] = "xen_version",
	[__HYPERVISOR_event_channel_op] = "event_channel_op",
	[__HYPERVISOR_pvft_op] = "pvft_op",
};

const char *hcname__name(uint64_t nr)
{
	if (nr < sizeof(names) / sizeof(names[0]) && names[nr])
		return names[nr];
	return "unknown";
}
