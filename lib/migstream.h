/* SPDX-License-Identifier: MIT */
/*
 * The migration stream (Documentation/migration-stream.md, normative):
 * what pvft-hv writes to save a running domain to a file or move it live
 * to another host, in the manner of Xen's libxc migration stream v2.
 *
 *   header   magic "PVFTMIG\n", version, flags (all little-endian)
 *   records  each: type (u32), body length (u32), checksum (u64: XXH3-64
 *            of type, length and body), the body, zero padding to 8 bytes
 *   END      the last record
 *
 * This file is the codec alone: encoding into a growable buffer and
 * decoding from bytes, with every bound checked. It knows nothing of a
 * domain (hv/migrate.c does), so the fuzzer and the toolstack (pvft restore
 * reads a save file's CONFIG) link it alone.
 *
 * Decoding never trusts a length: a record whose body is longer than its
 * type allows, a checksum that does not match, a type this version does
 * not know, a bad padding byte or a body of the wrong shape is refused with
 * a message naming the record and the reason.
 */
#ifndef PVFT_LIB_MIGSTREAM_H
#define PVFT_LIB_MIGSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIGSTREAM_MAGIC "PVFTMIG\n" /* 8 bytes */
#define MIGSTREAM_VERSION 1
#define MIGSTREAM_HEADER_SIZE 16 /* magic, u32 version, u32 flags */
#define MIGSTREAM_REC_HDR_SIZE 16
/* Header flags. */
#define MIGSTREAM_F_LIVE (1u << 0) /* a live migration (else a save file) */
#define MIGSTREAM_F_KNOWN MIGSTREAM_F_LIVE

#define MIGSTREAM_PAGE_SIZE 4096u
/* PAGE_DATA: at most this many pages a record (4 MiB of page bytes). */
#define MIGSTREAM_BATCH_MAX 1024u
/* A pfn entry's flag bit: the page is all zero, no bytes follow for it. */
#define MIGSTREAM_PFN_ZERO (1ull << 63)
#define MIGSTREAM_PFN_MASK ((1ull << 52) - 1)

/* The largest PAGE_DATA body (a full batch of non-zero pages). */
#define MIGSTREAM_BODY_MAX (8 + MIGSTREAM_BATCH_MAX * (8 + MIGSTREAM_PAGE_SIZE))
/* The other bodies' bounds (DOMAIN_INFO, VCPU, VERIFY, ROUND: fixed). */
#define MIGSTREAM_GATE_STATE_MAX 4096 /* GATE's out_state_len */
#define MIGSTREAM_DEVICES_MAX (1u << 20)
#define MIGSTREAM_CONFIG_MAX (64u << 10)
#define MIGSTREAM_LOG_TAIL_MAX (64u << 20)
/*
 * DOMAIN_INFO's role of a running primary's checkpoint for a backup that
 * joins it (re-protection): the log format's are 1 and 2.
 */
#define MIGSTREAM_ROLE_JOIN 3u
/*
 * The largest record of any type, header and padding included: LOG_TAIL's,
 * not PAGE_DATA's. A receiver sizes its buffer by rec->size as records
 * come, or by this; MIGSTREAM_BODY_MAX alone is too small for a backup's
 * stream.
 */
#define MIGSTREAM_RECORD_MAX (MIGSTREAM_REC_HDR_SIZE + MIGSTREAM_LOG_TAIL_MAX)

/*
 * A live migration's answer (Documentation/migration-stream.md, "Live
 * migration"): after END the destination sends MIGSTREAM_ACK_SIZE bytes,
 * MIGSTREAM_ACK_OK (the string with its NUL) once it holds the domain and
 * VERIFY matched; else MIGSTREAM_ACK_NO, then a u32 (little-endian) length
 * of at most MIGSTREAM_ACK_MSG_MAX and that many bytes of message (no NUL).
 */
#define MIGSTREAM_ACK_OK "PVFTOK\n"
#define MIGSTREAM_ACK_NO "PVFTNO\n"
#define MIGSTREAM_ACK_SIZE 8
#define MIGSTREAM_ACK_MSG_MAX 512

enum migstream_type {
	MIGSTREAM_END = 0,
	MIGSTREAM_DOMAIN_INFO = 1,
	MIGSTREAM_PAGE_DATA = 2,
	MIGSTREAM_VCPU = 3,
	MIGSTREAM_DEVICES = 4,
	MIGSTREAM_GATE = 5,
	MIGSTREAM_VERIFY = 6,
	MIGSTREAM_CONFIG = 7,	/* opaque to pvft-hv: the toolstack's */
	MIGSTREAM_LOG_TAIL = 8, /* a backup's records not yet replayed */
	MIGSTREAM_ROUND = 9,	/* a pre-copy round ended (statistics) */
	MIGSTREAM_TYPE_NR
};

/*
 * The source's answer to the destination's MIGSTREAM_ACK_OK: it has
 * stopped for good, the destination may run (8 bytes, NUL included).
 */
#define MIGSTREAM_GO "PVFTGO\n"

/* "END", "PAGE_DATA", ...; "unknown" past the known ones. */
const char *migstream__type_name(uint32_t type);

/* ---- record bodies ------------------------------------------------------ */

#define MIGSTREAM_NR_TRAPS 32 /* == PVFT_NR_TRAPS (checked in migrate.c) */
#define MIGSTREAM_FXSAVE_SIZE 512

struct migstream_domain_info {
	uint64_t mem_size;
	uint8_t image_hash[16];
	uint64_t cmdline_hash; /* XXH3-64 of the command line (no NUL) */
	uint64_t cpuid_hash;
	uint32_t abi_version; /* PVFT_ABI_VERSION */
	uint32_t nr_vifs;
	uint64_t pair_id; /* 0: not a pair's replica */
	uint64_t epoch;
	uint32_t role;	  /* LOGFMT_ROLE_*, MIGSTREAM_ROLE_JOIN, 0 none */
	uint32_t backend; /* 0 kvm, 1 ptrace: for messages only */
	uint64_t entry;	  /* the image's entry point (the ptrace child's) */
	uint64_t hypercall_page; /* where the image has its hypercall page */
	char name[64];		 /* the domain's name, NUL-terminated */
	char cmdline[512];	 /* NUL-terminated (MAX_GUEST_CMDLINE) */
};

struct migstream_vcpu {
	uint64_t gpr[16]; /* rax rbx rcx rdx rsi rdi rbp rsp r8..r15 */
	uint64_t rip, rflags;
	uint8_t fxsave[MIGSTREAM_FXSAVE_SIZE]; /* FXSAVE image (x87, SSE) */
	uint64_t trap_handler[MIGSTREAM_NR_TRAPS];
	uint32_t in_trap_handler; /* 0 or 1 */
	uint32_t pad;
};

struct migstream_gate {
	uint64_t exits;	   /* the exit ordinal at the cut */
	uint64_t records;  /* log records written/replayed so far */
	uint64_t guest_ns; /* guest monotonic time at the cut */
	uint64_t last_rip;
	uint64_t id_counter;
	uint32_t id_nonce;
	uint32_t mode; /* enum gate_mode */
	uint64_t last_digest_exit;
	uint64_t out_bytes; /* console bytes so far (the output hash's) */
	uint64_t out_hash;  /* XXH3-64 of them so far (checked on restore) */
	uint32_t out_state_len;
	uint32_t pad;
	const uint8_t *out_state; /* the running hash's state, opaque */
};

struct migstream_verify {
	/* The digest at the cut (hv/digest.h), the receiver's must equal. */
	uint64_t mem, regs, out_bytes, out_hash;
	uint64_t pages_sent; /* page records' pages over the whole stream */
	uint64_t rounds;
};

struct migstream_round {
	uint32_t round;
	uint32_t flags; /* MIGSTREAM_ROUND_SYNC; other bits 0 */
	uint64_t pages, bytes, dirty, duration_ns;
};

/*
 * ROUND's flag: the destination answers MIGSTREAM_SYNC (8 bytes) once it
 * has applied everything before it, so that the source measures the rate
 * the pages go in at, not only out (and never cuts while the destination
 * is still behind: its backlog would be paused time).
 */
#define MIGSTREAM_ROUND_SYNC (1u << 0)
#define MIGSTREAM_SYNC "PVFTSY\n"

/* A page batch as decoded: pointers into the record's body. */
struct migstream_pages {
	uint32_t count;
	const uint64_t *pfn; /* count entries, maybe MIGSTREAM_PFN_ZERO */
	const uint8_t *data; /* the non-zero pages' bytes, in order */
	uint32_t nr_data;    /* how many pages data holds */
};

/* ---- encoding ------------------------------------------------------------ */

struct migstream_buf {
	uint8_t *p;
	size_t len, cap;
};

void migstream__buf_free(struct migstream_buf *b);
void migstream__buf_reset(struct migstream_buf *b);
/*
 * Append the header / a record (body @len bytes). 0, -ENOMEM, or -EINVAL
 * for what a decoder would refuse (unknown flags or type, a length the
 * type does not allow, a field out of range): nothing is appended then,
 * and on -ENOMEM neither. Fixed bodies are the structs' bytes, their pad
 * fields written as 0 (and DOMAIN_INFO's strings zero-filled past their
 * NULs). GATE's body is the struct up to out_state, then out_state_len
 * bytes from out_state.
 */
int migstream__put_header(struct migstream_buf *b, uint32_t flags);
int migstream__put(struct migstream_buf *b, uint32_t type, const void *body,
		   uint32_t len);
int migstream__put_domain_info(struct migstream_buf *b,
			       const struct migstream_domain_info *di);
int migstream__put_vcpu(struct migstream_buf *b,
			const struct migstream_vcpu *v);
int migstream__put_gate(struct migstream_buf *b,
			const struct migstream_gate *g);
int migstream__put_verify(struct migstream_buf *b,
			  const struct migstream_verify *v);
int migstream__put_round(struct migstream_buf *b,
			 const struct migstream_round *r);
/*
 * A PAGE_DATA record of @count pages from @mem (guest memory, @pfn[i] its
 * frame numbers, each below mem's size: the caller's): all-zero pages go
 * as a flag. 0 or -ENOMEM/-EINVAL (count 0 or > MIGSTREAM_BATCH_MAX, a
 * pfn above MIGSTREAM_PFN_MASK or twice in @pfn).
 * *@bytes_r: the page bytes sent (zero pages not counted).
 */
int migstream__put_pages(struct migstream_buf *b, const uint8_t *mem,
			 const uint64_t *pfn, uint32_t count,
			 uint64_t *bytes_r);

/* ---- decoding ------------------------------------------------------------ */

struct migstream_rec {
	uint32_t type;
	uint32_t len;	     /* the body's */
	const uint8_t *body; /* into the caller's bytes */
	size_t size;	     /* the whole record: header, body, padding */
};

/*
 * The stream's header from @buf (@len bytes). 0; -EAGAIN: fewer than
 * MIGSTREAM_HEADER_SIZE bytes; -EPROTO (bad magic: not a pvft migration
 * stream), -EPROTONOSUPPORT (another version; @err says which),
 * -EINVAL (unknown flags). @err gets the reason on failure.
 */
int migstream__decode_header(const void *buf, size_t len, uint32_t *flags_r,
			     char *err, size_t errlen);
/*
 * The record at the head of @buf. 0 and *rec; -EAGAIN: @len is short of
 * the record (rec->size says how much it needs once the header is
 * there, else MIGSTREAM_REC_HDR_SIZE); -EBADMSG with @err: a checksum,
 * length, padding or unknown type. rec->body is 8-byte aligned when
 * @buf is (records are 8-byte multiples from the stream's start): keep it
 * so, migstream__get_pages() hands out pointers to u64 into it.
 */
int migstream__decode(const void *buf, size_t len, struct migstream_rec *rec,
		      char *err, size_t errlen);
/*
 * A record's body: 0, or -EBADMSG with @err (wrong type or size, bad
 * fields: a name or command line without its NUL, a memory size that is
 * not whole pages, in_trap_handler not 0/1, a pad field not 0). GATE's
 * out_state points into r->body (NULL when out_state_len is 0).
 */
int migstream__get_domain_info(const struct migstream_rec *r,
			       struct migstream_domain_info *di, char *err,
			       size_t errlen);
int migstream__get_vcpu(const struct migstream_rec *r, struct migstream_vcpu *v,
			char *err, size_t errlen);
int migstream__get_gate(const struct migstream_rec *r, struct migstream_gate *g,
			char *err, size_t errlen);
int migstream__get_verify(const struct migstream_rec *r,
			  struct migstream_verify *v, char *err, size_t errlen);
int migstream__get_round(const struct migstream_rec *r,
			 struct migstream_round *rd, char *err, size_t errlen);
/*
 * PAGE_DATA: every pfn below @max_pfn, no pfn twice in the batch, the
 * bytes exactly the non-zero pages'. p's pointers are into r->body
 * (data NULL when no page has bytes); -EINVAL if r->body is not 8-byte
 * aligned.
 */
int migstream__get_pages(const struct migstream_rec *r, uint64_t max_pfn,
			 struct migstream_pages *p, char *err, size_t errlen);

/*
 * The record order of Documentation/migration-stream.md section 6, for a
 * receiver to check each record's type as it comes: DOMAIN_INFO, CONFIG
 * (optional), PAGE_DATA and ROUND (LIVE streams only) in any mix, VCPU,
 * DEVICES, GATE, LOG_TAIL (optional), VERIFY, END, nothing after.
 */
struct migstream_order {
	uint32_t flags; /* the header's */
	uint32_t last;	/* the last record's type, MIGSTREAM_TYPE_NR before */
	bool ended;	/* END has come */
};

void migstream__order_init(struct migstream_order *o, uint32_t flags);
/* A record of @type next: 0, or -EBADMSG with @err (out of order). */
int migstream__order_next(struct migstream_order *o, uint32_t type, char *err,
			  size_t errlen);

#endif /* PVFT_LIB_MIGSTREAM_H */
