/* SPDX-License-Identifier: MIT */
/*
 * The pvft log format, version 1: one byte format for log files (offline
 * record/replay) and for the log channel's TCP stream (live pair). The
 * normative description is Documentation/log-format.md; this file and
 * logfmt.c are the only code that touch the bytes.
 *
 *   header   128 bytes, once: magic, version, flags, pair id, epoch, guest
 *            image hash, memory size, PV ABI version, CPUID hash, CRC32C
 *   record   24-byte head {seq, exit ordinal, type, flags, length},
 *            payload padded with zeros to 8 bytes, 8-byte tail {CRC32C, 0}
 *
 * Everything is little-endian. The decoder takes every input as hostile:
 * each check failure is a logfmt_error with a message naming the cause, never
 * a crash or a read past the bytes it was given.
 */
#ifndef PVFT_LOGCHAN_LOGFMT_H
#define PVFT_LOGCHAN_LOGFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pvft/abi.h"

#define LOGFMT_MAGIC "PVFTLOG\0" /* 8 bytes, NUL included */
#define LOGFMT_VERSION 1
#define LOGFMT_HEADER_SIZE 128
#define LOGFMT_HEAD_SIZE 24 /* record head */
#define LOGFMT_TAIL_SIZE 8  /* record tail: CRC32C + reserved zero */
/* No record is longer: bounds what a reader ever buffers. */
#define LOGFMT_MAX_PAYLOAD (1u << 20)
#define LOGFMT_MAX_RECORD \
	(LOGFMT_HEAD_SIZE + LOGFMT_MAX_PAYLOAD + LOGFMT_TAIL_SIZE)

/* Header flags. Unknown flags are an error. */
#define LOGFMT_F_STREAM 0x1u /* a live TCP stream, not a file */
#define LOGFMT_F_KNOWN LOGFMT_F_STREAM

struct logfmt_header {
	uint16_t version;
	uint32_t flags;
	uint64_t pair_id;
	uint64_t epoch;
	uint8_t image_hash[16]; /* XXH3-128 of the guest image file */
	uint64_t mem_size;	/* bytes */
	uint32_t abi_version;	/* PVFT_ABI_VERSION */
	uint64_t cpuid_hash;	/* hv/cpuid.c's table, as cpuid__hash() */
};

/*
 * Record types. Bit 15 set: optional, a reader that does not know the type
 * skips it. Clear: mandatory, an unknown one is an error.
 */
enum logfmt_type {
	LOGFMT_BOOT = 1,       /* ordinal 0: the domain's boot parameters */
	LOGFMT_TIME = 2,       /* PVFTOP_time result */
	LOGFMT_RANDOM = 3,     /* PVFTOP_random bytes */
	LOGFMT_TIMER = 4,      /* VIRQ_TIMER fired at this exit */
	LOGFMT_CONSOLE_IN = 5, /* console input staged at this exit */
	LOGFMT_DIGEST = 6,     /* state digest at this exit */
	LOGFMT_END = 7,	       /* the run ended; nothing follows */
	LOGFMT_NET_RX = 8,     /* a network frame delivered at this exit */
	LOGFMT_NOTE = 0x8001,  /* optional free text (who recorded, why) */
	/* The live stream's own records (chan.c): a file never has them. */
	LOGFMT_PROGRESS = 0x8002, /* primary: all records before ordinal sent */
	LOGFMT_RELEASED = 0x8003, /* primary: console bytes released so far */
	LOGFMT_ACK = 0x8004,	  /* backup: received and replayed so far */
	LOGFMT_HELLO = 0x8005,	  /* both: role, node id, answer */
	/* primary: stopped, all acked and released: take over (promote) */
	LOGFMT_HANDOVER = 0x8006,
	/* backup: it is moving (frozen), or moved to another address */
	LOGFMT_MOVE = 0x8007,
	/* primary: this connection resumes a moved backup's stream */
	LOGFMT_RESUME = 0x8008,
};
#define LOGFMT_TYPE_OPTIONAL 0x8000u

/*
 * Where the guest was when the hv applied or produced the record: a check
 * on top of the exit ordinal. nr is the hypercall number of the exit.
 */
struct logfmt_pos {
	uint64_t rip;
	uint32_t nr;
};

struct logfmt_boot {
	uint64_t wall_ns;  /* host CLOCK_REALTIME at boot (informational) */
	uint32_t id_nonce; /* PVFTOP_unique_id's per-boot nonce */
	uint32_t cmdline_len;
	const char *cmdline; /* not NUL-terminated; no NUL bytes inside */
	/* The domain's vifs (0..PVFT_MAX_VIFS): what PVFTOP_vif_info says. */
	uint32_t nr_vifs;
	uint8_t vif_mac[PVFT_MAX_VIFS][6];
};

struct logfmt_time {
	struct logfmt_pos pos;
	uint32_t clock; /* PVFT_CLOCK_* */
	int64_t value;	/* what the hypercall returned */
};

struct logfmt_random {
	struct logfmt_pos pos;
	uint32_t len; /* 1..PVFT_RANDOM_MAX */
	const uint8_t *bytes;
};

struct logfmt_timer {
	struct logfmt_pos pos;
};

#define LOGFMT_CONSOLE_CLOSED 0x1u /* input is over after these bytes */
struct logfmt_console_in {
	struct logfmt_pos pos;
	uint32_t flags;
	uint32_t len; /* 0..PVFT_CONSOLE_IO_MAX */
	const uint8_t *bytes;
};

/* NET_RX: a frame the hv put into the guest's rx ring at this exit. */
struct logfmt_net_rx {
	struct logfmt_pos pos;
	uint32_t vif; /* < PVFT_MAX_VIFS */
	uint32_t len; /* PVFT_NET_FRAME_MIN..PVFT_NET_FRAME_MAX */
	const uint8_t *bytes;
};

/* A state digest: XXH3-64 hashes. */
struct logfmt_digest_value {
	uint64_t mem;	    /* all of guest memory */
	uint64_t regs;	    /* the vCPU's registers (hv/gate.c says which) */
	uint64_t out_bytes; /* console bytes the guest wrote so far */
	uint64_t out_hash;  /* running hash of those bytes */
};

struct logfmt_digest {
	struct logfmt_pos pos;
	uint64_t guest_ns; /* guest monotonic time when taken */
	struct logfmt_digest_value v;
};

/* Why the run ended (struct logfmt_end.cause). */
enum logfmt_end_cause {
	LOGFMT_END_SHUTDOWN = 0, /* the guest shut down (any reason) */
	LOGFMT_END_FAULT = 1,	 /* guest fault or dead domain */
	LOGFMT_END_STOPPED = 2,	 /* stopped from outside (signal) */
	LOGFMT_END_HOST = 3,	 /* the host failed (backend error) */
	LOGFMT_END_NR
};

/*
 * END flags. RAN_ON: the vCPU was in the guest, past the record's exit,
 * when the run was ended from outside, so the final memory and registers
 * are not those of that exit (a replay compares only the console output).
 */
#define LOGFMT_END_RAN_ON 0x1u
#define LOGFMT_END_F_KNOWN LOGFMT_END_RAN_ON

struct logfmt_end {
	uint32_t status; /* pvft-hv's exit status */
	uint16_t cause;	 /* enum logfmt_end_cause */
	uint16_t flags;	 /* LOGFMT_END_* */
	uint64_t guest_ns;
	struct logfmt_digest_value v; /* the final state */
};

struct logfmt_note {
	uint32_t len;
	const char *text; /* not NUL-terminated */
};

/*
 * PROGRESS: every record of the exits before @next_ordinal is in the
 * stream, but for an END of a run stopped from outside (which may name an
 * earlier exit: the vCPU ran on past it). Also the primary's heartbeat.
 */
struct logfmt_progress {
	uint64_t next_ordinal;
};

/*
 * RELEASED: the primary let out this many console bytes in all. HANDOVER
 * has the same payload: its final count.
 */
struct logfmt_released {
	uint64_t out_bytes;
};

/* ACK, backup to primary (cumulative counts of the primary's records). */
struct logfmt_ack {
	uint64_t received; /* records with seq below this arrived */
	uint64_t replayed; /* ... and below this, the backup replayed */
};

/* HELLO: each side's first word. */
enum logfmt_role {
	LOGFMT_ROLE_PRIMARY = 1,
	LOGFMT_ROLE_BACKUP = 2,
};
#define LOGFMT_HELLO_NODE_MAX 63
#define LOGFMT_HELLO_REASON_MAX 400
struct logfmt_hello {
	uint32_t role;	     /* enum logfmt_role */
	uint32_t refused;    /* backup: 0 accepted, 1 refused (see reason) */
	uint32_t node_len;   /* 1..LOGFMT_HELLO_NODE_MAX */
	uint32_t reason_len; /* 0..LOGFMT_HELLO_REASON_MAX */
	const char *node;    /* not NUL-terminated; no NUL bytes inside */
	const char *reason;
};

/*
 * MOVE, backup to primary (pair.md, "Moving the backup"): the backup
 * holds every record with seq below @received and takes no more from
 * this connection. @addr_len 0: it is being moved (the primary waits
 * for the rest); else the successor that holds them listens at @addr.
 */
#define LOGFMT_MOVE_ADDR_MAX 255
struct logfmt_move {
	uint64_t received;
	uint32_t addr_len; /* 0..LOGFMT_MOVE_ADDR_MAX */
	const char *addr;  /* HOST:PORT; not NUL-terminated, no NUL inside */
};

/*
 * RESUME, primary to a moved backup's successor, in the opening between
 * BOOT and HELLO: the first record this connection carries is @first_seq
 * (the MOVE's received count); the ones before it the successor has.
 */
struct logfmt_resume {
	uint64_t first_seq;
};

/* One record, decoded; pointers point into the decoded bytes. */
struct logfmt_record {
	uint64_t seq;
	uint64_t ordinal; /* exit ordinal the record belongs to */
	uint16_t type;
	uint16_t flags; /* 0 in version 1 */
	uint32_t len;	/* payload bytes */
	const uint8_t *payload;
	union {
		struct logfmt_boot boot;
		struct logfmt_time time;
		struct logfmt_random random;
		struct logfmt_timer timer;
		struct logfmt_console_in console_in;
		struct logfmt_net_rx net_rx;
		struct logfmt_digest digest;
		struct logfmt_end end;
		struct logfmt_note note;
		struct logfmt_progress progress;
		struct logfmt_released released;
		struct logfmt_ack ack;
		struct logfmt_hello hello;
		struct logfmt_move move;
		struct logfmt_resume resume;
	} u; /* by type; untouched for an unknown optional type */
};

struct logfmt_error {
	char msg[200];
};

/* Fill @err (may be NULL) from @fmt; returns -1, for "return err(...)". */
int logfmt__error(struct logfmt_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* CRC32C (Castagnoli), as iSCSI and ext4: crc = logfmt__crc32c(0, p, n). */
uint32_t logfmt__crc32c(uint32_t crc, const void *buf, size_t len);

/* "TIME", "CONSOLE_IN", ...; "unknown" for others. */
const char *logfmt__type_name(uint16_t type);
const char *logfmt__end_cause_name(uint32_t cause);

/*
 * Encode the header into exactly LOGFMT_HEADER_SIZE bytes. @h->version is
 * not read: this code writes LOGFMT_VERSION, the only one it can write.
 */
void logfmt__encode_header(const struct logfmt_header *h,
			   uint8_t out[LOGFMT_HEADER_SIZE]);
/*
 * Decode and check a header (magic, version, flags, reserved bytes, CRC).
 * 0, or -1 with @err set. @len is how many bytes the caller has: fewer
 * than LOGFMT_HEADER_SIZE is an error ("truncated").
 */
int logfmt__decode_header(const uint8_t *buf, size_t len,
			  struct logfmt_header *h, struct logfmt_error *err);

/*
 * Bytes that encoding @r takes (head + padded payload + tail); 0 if @r
 * cannot be encoded (logfmt__encode_record would return -1 for any @cap).
 */
size_t logfmt__record_size(const struct logfmt_record *r);

/*
 * Encode @r from its type and the matching union member (seq, ordinal,
 * type and u are read; len and payload are ignored and computed). An
 * unknown optional type has no member: its len and payload bytes are
 * written as they are, so a decoded record always encodes back to the
 * same bytes. Returns the bytes written, or -1 if @cap is too small, the
 * type is unknown and mandatory, or the member is invalid (e.g. a random
 * length over PVFT_RANDOM_MAX).
 */
long logfmt__encode_record(const struct logfmt_record *r, uint8_t *out,
			   size_t cap);

/*
 * Decode one record from @buf (@avail bytes): checks the head, the length
 * bound, the CRC, the padding and tail, the type (unknown mandatory types
 * are errors) and the payload layout of known types. Returns the bytes it
 * took (> 0); 0 when @avail is too short to hold the whole record (read
 * more, or at end of input: truncated); -1 with @err set for a bad record.
 */
long logfmt__decode_record(const uint8_t *buf, size_t avail,
			   struct logfmt_record *r, struct logfmt_error *err);
/*
 * The whole record's size, from its LOGFMT_HEAD_SIZE-byte head alone (at
 * most LOGFMT_MAX_RECORD), or -1 with @err set when its length field is
 * over the bound: how much a stream reader may wait for.
 */
long logfmt__record_total(const uint8_t *head, struct logfmt_error *err);

/*
 * What spans records in a log (file or stream): sequence numbers count up
 * from 0 without gaps, exit ordinals never go back, BOOT is record 0 (at
 * ordinal 0) and only it, other mandatory records belong to an exit (>= 1)
 * except END, and nothing mandatory follows END (a file has nothing
 * after it at all: logfile.c checks).
 */
struct logfmt_order {
	uint64_t next_seq;
	uint64_t last_ordinal;
	bool ended; /* END passed */
};

/* 0, or -1 with @err saying which rule @rec breaks; @o moves on at 0. */
int logfmt__check_order(struct logfmt_order *o, const struct logfmt_record *rec,
			struct logfmt_error *err);

/*
 * A stream's opening, as the backup takes it from a primary that proved
 * the key: header (a stream's), BOOT (at most LOGFMT_OPENING_BOOT_MAX
 * bytes), a primary's HELLO, and nothing after it, in at most
 * LOGFMT_OPENING_MAX bytes. 1 complete (@boot's command line and @hello's
 * node point into @buf), 0 more bytes needed, -1 with @why.
 */
#define LOGFMT_OPENING_BOOT_MAX 2048
#define LOGFMT_OPENING_MAX (LOGFMT_HEADER_SIZE + LOGFMT_OPENING_BOOT_MAX + 1024)
int logfmt__decode_opening(const uint8_t *buf, size_t len,
			   struct logfmt_header *h, struct logfmt_record *boot,
			   struct logfmt_record *hello,
			   struct logfmt_error *why);
/*
 * A resumed stream's opening (a moved backup's successor takes it): the
 * same, with a RESUME record (seq 1) between BOOT and HELLO (seq 2),
 * decoded into @resume. The same returns.
 */
int logfmt__decode_resume_opening(const uint8_t *buf, size_t len,
				  struct logfmt_header *h,
				  struct logfmt_record *boot,
				  struct logfmt_record *resume,
				  struct logfmt_record *hello,
				  struct logfmt_error *why);

#endif /* PVFT_LOGCHAN_LOGFMT_H */
