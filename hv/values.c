// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "domain.h"
#include "log.h"
#include "values.h"

static int64_t live_time(struct domain *d, uint32_t clock)
{
	struct timespec ts;

	if (clock == PVFT_CLOCK_MONOTONIC)
		return sched__now(d);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

long values__time(struct domain *d, uint32_t clock, int64_t *value_r)
{
	struct gate *g = &d->gate;
	const struct logfmt_record *rec;
	struct logfmt_record out = { .type = LOGFMT_TIME };

	gate__sync(d);
	if (!gate__replaying(g)) {
		*value_r = live_time(d, clock);
		if (gate__recording(g)) {
			out.u.time = (struct logfmt_time){
				.pos = gate__here(d),
				.clock = clock,
				.value = *value_r,
			};
			gate__put(d, &out);
		}
		return 0;
	}
	*value_r = 0;
	rec = gate__expect(d, LOGFMT_TIME);
	if (!rec || !gate__at_pos(d, rec, &rec->u.time.pos))
		return 0;
	if (rec->u.time.clock != clock) {
		gate__diverged(d, rec,
			       "the log has clock %u, the guest asked for %u",
			       rec->u.time.clock, clock);
		return 0;
	}
	*value_r = rec->u.time.value;
	gate__consume(d);
	return 0;
}

static long live_random(uint8_t *buf, uint32_t len)
{
	uint32_t got = 0;

	while (got < len) {
		ssize_t r = getrandom(buf + got, len - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			pr_err("getrandom: %s", strerror(errno));
			return -EIO;
		}
		got += r;
	}
	return 0;
}

long values__random(struct domain *d, uint8_t *buf, uint32_t len)
{
	struct gate *g = &d->gate;
	const struct logfmt_record *rec;
	struct logfmt_record out = { .type = LOGFMT_RANDOM };
	long rc;

	gate__sync(d);
	if (!gate__replaying(g)) {
		rc = live_random(buf, len);
		if (rc && gate__recording(g)) {
			/* A host failure no replay could give the guest. */
			domain__shutdown(d, HV_EXIT_HOST, DOMAIN_END_HOST);
			return rc;
		}
		if (gate__recording(g) && len) {
			out.u.random = (struct logfmt_random){
				.pos = gate__here(d),
				.len = len,
				.bytes = buf,
			};
			gate__put(d, &out);
		}
		return rc;
	}
	memset(buf, 0, len);
	if (!len)
		return 0;
	rec = gate__expect(d, LOGFMT_RANDOM);
	/* Ended here (as by the recording's getrandom failure): as it did. */
	if (!rec)
		return -EIO;
	if (!gate__at_pos(d, rec, &rec->u.random.pos))
		return 0;
	if (rec->u.random.len != len) {
		gate__diverged(d, rec,
			       "the log has %u random bytes, the guest asked "
			       "for %u",
			       rec->u.random.len, len);
		return 0;
	}
	memcpy(buf, rec->u.random.bytes, len);
	gate__consume(d);
	return 0;
}
