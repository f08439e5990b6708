// SPDX-License-Identifier: MIT
/*
 * Domain configs (config.h; the format is pvft.cfg(5)).
 *
 * libxlutil parses the text and holds the values, as for xl. It cannot
 * list the keys it read or say on which line, so a small scan of the same
 * text (run only after libxlutil accepted it, so it can trust the
 * grammar) finds each setting: key, line, operator and kind of value.
 * Unknown and repeated keys are found on that list; each key's value is
 * then taken from libxlutil and checked.
 *
 * Overrides are appended to the file's text as lines of their own, as
 * xl create does with its KEY=VALUE arguments: libxlutil keeps every
 * setting of a key and answers with the last one, so an override wins.
 * Each override is first parsed alone, so that a syntax error in one is
 * reported as the command line's and not as a line past the file's end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pvft/abi.h"

#include <libxlutil.h>

#include "arbiter.h"
#include "chan.h"
#include "config.h"
#include "tls.h"
#include "vifspec.h"

/* A config bigger than this is not a config. */
#define CFG_FILE_MAX (1 << 20)
/* Values quoted in messages are cut to this many bytes. */
#define CFG_SHOW_MAX 200

#define CFG_DEFAULT_MEMORY_MIB 64
#define CFG_DEFAULT_HOST "localhost"
#define CFG_DEFAULT_REMOTE "ssh -o BatchMode=yes %h %c"
#define CFG_DEFAULT_ADDR "127.0.0.1"

/* The same ranges as pvft-hv's options: logchan/chan.h's. */
#define CFG_HEARTBEAT_MS_MAX CHAN_HEARTBEAT_MS_MAX
#define CFG_TIMEOUT_MS_MAX CHAN_TIMEOUT_MS_MAX
#define CFG_MAX_LAG_MS_MAX CHAN_MAX_LAG_MS_MAX
#define CFG_CONNECT_S_MAX CHAN_CONNECT_S_MAX

#define CFG_CMDLINE "command line"
#define CFG_SCHEME_ETCDS "etcds"

#define FNV64_OFFSET 0xcbf29ce484222325ull
#define FNV64_PRIME 0x100000001b3ull

_Static_assert(PVFT_CFG_MAX_VIFS == PVFT_MAX_VIFS, "one vif list per domain");

enum cfg_kind {
	CFG_NUMBER, /* a bare xl number: 64, 0x40 */
	CFG_STRING, /* "..." or '...' (a number is taken as a string too) */
	CFG_LIST,   /* [ "...", ... ] */
};

/* Every key there is (pvft.cfg(5)); the value's kind is checked as read. */
static const char *const cfg_keys[] = {
	"name",
	"kernel",
	"memory",
	"cmdline",
	"vif",
	"backend",
	"ft_mode",
	"ft_primary",
	"ft_backup",
	"ft_primary_node",
	"ft_backup_node",
	"ft_remote",
	"ft_log_addr",
	"ft_log_port",
	"ft_migrate_port",
	"ft_reprotect",
	"ft_hosts",
	"ft_arbiter",
	"ft_arbiter_addr",
	"ft_arbiter_port",
	"ft_heartbeat_ms",
	"ft_timeout_ms",
	"ft_max_lag_ms",
	"ft_connect_timeout",
	"ft_pair",
	"ft_epoch",
	"ft_key",
	"ft_insecure",
	"ft_tls_ca",
	"ft_tls_cert",
	"ft_tls_key",
	"ft_arbiter_ca",
	"ft_arbiter_cert",
	"ft_arbiter_key",
	"ft_arbiter_user",
	"ft_arbiter_password_file",
};

/* xl keys with a pvft counterpart of another name, for "did you mean". */
static const struct {
	const char *xl, *pvft;
} xl_keys[] = {
	{ "extra", "cmdline" },
	{ "maxmem", "memory" },
};

/* One KEY = VALUE (or KEY += VALUE), as the scan found it. */
struct setting {
	const char *key; /* into the text, not terminated */
	size_t key_len;
	unsigned int line; /* the file's; 0: an override */
	bool add;	   /* += */
	enum cfg_kind kind;
};

struct load {
	struct pvft_cfg *cfg;
	const char *path;
	char *err;
	size_t errlen;

	/* The file's text, a newline, then one line per override. */
	char *text;
	size_t len, cap;
	size_t file_len;
	unsigned int file_lines;

	/* libxlutil's parse of all of it. */
	XLU_Config *xlu;

	struct setting *set;
	size_t nr_set;

	char shown[4 * CFG_SHOW_MAX + 8];
};

static int scan(struct load *ld);

/* ---- messages ---------------------------------------------------------- */

static void say(struct load *ld, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(struct load *ld, const char *fmt, ...)
{
	va_list ap;

	if (!ld->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(ld->err, ld->errlen, fmt, ap);
	va_end(ap);
}

/*
 * "FILE:LINE: KEY: " (or "command line: KEY: ", or "FILE: KEY: " for a
 * default) and the message. Returns -1.
 */
static int bad(struct load *ld, const struct setting *s, const char *key,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int bad(struct load *ld, const struct setting *s, const char *key,
	       const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!s)
		say(ld, "%s: %s: %s", ld->path, key, msg);
	else if (!s->line)
		say(ld, "%s: %s: %s", CFG_CMDLINE, key, msg);
	else
		say(ld, "%s:%u: %s: %s", ld->path, s->line, key, msg);
	return -1;
}

/*
 * @v fit for a one-line message: control characters and non-ASCII bytes
 * escaped, cut after CFG_SHOW_MAX bytes. Valid until the next call.
 */
static const char *show(struct load *ld, const char *v)
{
	char *o = ld->shown;
	size_t i;

	for (i = 0; v[i] && i < CFG_SHOW_MAX; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == '\n')
			o += sprintf(o, "\\n");
		else if (c == '\t')
			o += sprintf(o, "\\t");
		else if (c < 0x20 || c >= 0x7f)
			o += sprintf(o, "\\x%02x", c);
		else
			*o++ = (char)c;
	}
	strcpy(o, v[i] ? "..." : "");
	return ld->shown;
}

/* ---- the text ---------------------------------------------------------- */

static int append(struct load *ld, const char *s, size_t len)
{
	if (ld->len + len + 1 > ld->cap) {
		size_t cap = (ld->len + len + 1) * 2;
		char *t = realloc(ld->text, cap);

		if (!t)
			return -1;
		ld->text = t;
		ld->cap = cap;
	}
	memcpy(ld->text + ld->len, s, len);
	ld->len += len;
	ld->text[ld->len] = '\0';
	return 0;
}

/* The file, ending in a newline (xl wants one after a last comment). */
static int read_file(struct load *ld)
{
	char buf[4096];
	FILE *f;
	size_t n;
	int e = 0;

	f = strlen(ld->path) < PATH_MAX ? fopen(ld->path, "re") : NULL;
	if (!f) {
		e = strlen(ld->path) < PATH_MAX ? errno : ENAMETOOLONG;
		goto out;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (ld->len + n > CFG_FILE_MAX) {
			e = EFBIG;
			goto out;
		}
		if (append(ld, buf, n)) {
			e = ENOMEM;
			goto out;
		}
	}
	if (ferror(f)) {
		e = errno ? errno : EIO;
		goto out;
	}
	if ((!ld->len || ld->text[ld->len - 1] != '\n') && append(ld, "\n", 1))
		e = ENOMEM;
	ld->file_len = ld->len;
	for (n = 0; n < ld->len; n++)
		ld->file_lines += ld->text[n] == '\n';
out:
	if (f)
		fclose(f);
	if (e)
		say(ld, "%s: cannot read: %s", ld->path, strerror(e));
	return e ? -1 : 0;
}

/* libxlutil's parse of @len bytes of @text, reporting to a memory file. */
struct parse {
	XLU_Config *xlu;
	FILE *report;
	char *buf;
	size_t buf_len;
};

static void parse_dispose(struct parse *p)
{
	xlu_cfg_destroy(p->xlu);
	if (p->report)
		fclose(p->report);
	free(p->buf);
	memset(p, 0, sizeof(*p));
}

/* 0, or an errno with libxlutil's first line of complaint in @msg. */
static int parse(struct parse *p, const char *source, const char *text,
		 size_t len, char *msg, size_t msg_len)
{
	int e;

	memset(p, 0, sizeof(*p));
	p->report = open_memstream(&p->buf, &p->buf_len);
	p->xlu = p->report ? xlu_cfg_init(p->report, source) : NULL;
	e = p->xlu ? xlu_cfg_readdata(p->xlu, text, (int)len) : ENOMEM;
	if (e == ENOMEM) {
		snprintf(msg, msg_len, "%s: out of memory", source);
	} else if (e) {
		fflush(p->report);
		if (p->buf_len)
			snprintf(msg, msg_len, "%.*s",
				 (int)strcspn(p->buf, "\n"), p->buf);
		else
			snprintf(msg, msg_len, "%s: %s", source, strerror(e));
	}
	return e;
}

/* A key is what xl's lexer takes for one: [a-z][_0-9a-z]*. */
static bool key_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') ||
	       (!first && ((c >= '0' && c <= '9') || c == '_'));
}

/* The key @key (@len bytes, not terminated) names, or NULL. */
static const char *find_key(const char *key, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(cfg_keys) / sizeof(cfg_keys[0]); i++)
		if (strlen(cfg_keys[i]) == len &&
		    !memcmp(cfg_keys[i], key, len))
			return cfg_keys[i];
	return NULL;
}

/* Edit distance of @a (@alen bytes, any case) and @b, capped at 9. */
static unsigned int distance(const char *a, size_t alen, const char *b)
{
	unsigned int row[64], diag, up, i, j, blen = strlen(b);

	if (alen >= 64 || blen >= 64)
		return 9;
	for (j = 0; j <= blen; j++)
		row[j] = j;
	for (i = 1; i <= alen; i++) {
		diag = row[0];
		row[0] = i;
		for (j = 1; j <= blen; j++) {
			char ca = a[i - 1];
			unsigned int best;

			if (ca >= 'A' && ca <= 'Z')
				ca = (char)(ca - 'A' + 'a');
			up = row[j];
			best = diag + (ca != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[blen] < 9 ? row[blen] : 9;
}

static int unknown_key(struct load *ld, const struct setting *s)
{
	const char *best = NULL;
	unsigned int best_d = 3, d;
	char key[CFG_SHOW_MAX + 1];
	size_t i;

	snprintf(key, sizeof(key), "%.*s", (int)s->key_len, s->key);
	for (i = 0; i < sizeof(xl_keys) / sizeof(xl_keys[0]); i++)
		if (!strcmp(key, xl_keys[i].xl))
			return bad(ld, s, show(ld, key),
				   "unknown key (xl's '%s' is pvft's '%s')",
				   xl_keys[i].xl, xl_keys[i].pvft);
	for (i = 0; i < sizeof(cfg_keys) / sizeof(cfg_keys[0]); i++) {
		d = distance(s->key, s->key_len, cfg_keys[i]);
		/* ft_heartbeat for ft_heartbeat_ms: the start of a key. */
		if (d > 1 && s->key_len >= 4 &&
		    !strncmp(cfg_keys[i], s->key, s->key_len))
			d = 1;
		if (d < best_d && d < s->key_len) {
			best = cfg_keys[i];
			best_d = d;
		}
	}
	if (best)
		return bad(ld, s, show(ld, key),
			   "unknown key (did you mean '%s'?)", best);
	return bad(ld, s, show(ld, key), "unknown key");
}

/* ---- overrides --------------------------------------------------------- */

/*
 * Append "KEY=VALUE" (or KEY+=VALUE) as a line of its own. VALUE is xl
 * syntax (name="kv2", memory=128, vif=['...']); one that is not, and does
 * not start as a string or a list would, is taken as a string, so that
 * name=kv2 and cmdline=port=7001 need no quotes through a shell.
 */
static int add_override(struct load *ld, const char *ovr)
{
	const char *eq = strchr(ovr, '='), *k, *v;
	struct setting s = { .line = 0 };
	char msg[512], *line = NULL, *q;
	struct parse p;
	size_t klen;
	int e, rc = -1;

	if (!eq) {
		say(ld, "%s: '%s': want KEY=VALUE", CFG_CMDLINE, show(ld, ovr));
		return -1;
	}
	for (k = ovr; *k == ' ' || *k == '\t'; k++)
		;
	klen = (size_t)(eq - k);
	while (klen && (k[klen - 1] == ' ' || k[klen - 1] == '\t'))
		klen--;
	s.add = klen && k[klen - 1] == '+';
	klen -= s.add;
	while (klen && (k[klen - 1] == ' ' || k[klen - 1] == '\t'))
		klen--;
	s.key = k;
	s.key_len = klen;
	if (!find_key(k, klen)) {
		if (!klen)
			say(ld, "%s: '%s': want KEY=VALUE", CFG_CMDLINE,
			    show(ld, ovr));
		else
			unknown_key(ld, &s);
		return -1;
	}
	for (v = eq + 1; *v == ' ' || *v == '\t'; v++)
		;
	if (asprintf(&line, "%.*s %s= %s\n", (int)klen, k, s.add ? "+" : "",
		     v) < 0) {
		line = NULL;
		goto nomem;
	}
	e = parse(&p, CFG_CMDLINE, line, strlen(line), msg, sizeof(msg));
	parse_dispose(&p);
	if (e && e != ENOMEM && *v != '"' && *v != '\'' && *v != '[') {
		char *quoted = malloc(2 * strlen(v) + 3);
		const char *c;

		if (!quoted)
			goto nomem;
		q = quoted;
		*q++ = '"';
		for (c = v; *c; c++) {
			if (*c == '"' || *c == '\\')
				*q++ = '\\';
			if (*c == '\n') {
				*q++ = '\\';
				*q++ = 'n';
			} else {
				*q++ = *c;
			}
		}
		*q++ = '"';
		*q = '\0';
		free(line);
		line = NULL;
		if (asprintf(&line, "%.*s %s= %s\n", (int)klen, k,
			     s.add ? "+" : "", quoted) < 0)
			line = NULL;
		free(quoted);
		if (!line)
			goto nomem;
		e = parse(&p, CFG_CMDLINE, line, strlen(line), msg,
			  sizeof(msg));
		parse_dispose(&p);
	}
	if (e == ENOMEM)
		goto nomem;
	if (e) {
		/* "command line:1: config parsing error near ..." */
		const char *why = msg;

		if (!strncmp(why, CFG_CMDLINE ":", strlen(CFG_CMDLINE ":")))
			why += strlen(CFG_CMDLINE ":");
		why += strspn(why, "0123456789");
		why += strspn(why, ": ");
		say(ld, "%s: '%s': %s", CFG_CMDLINE, show(ld, ovr), why);
		goto out;
	}
	/* One override, one setting: "memory=128;cmdline=..." is two. */
	{
		struct load one = *ld;
		size_t nr;

		one.text = line;
		one.len = strlen(line);
		one.file_len = 0;
		one.set = NULL;
		one.nr_set = 0;
		e = scan(&one);
		nr = one.nr_set;
		free(one.set);
		if (!e && nr != 1) {
			say(ld, "%s: '%s': one KEY=VALUE per setting",
			    CFG_CMDLINE, show(ld, ovr));
			e = -1;
		}
		if (e)
			goto out;
	}
	if (append(ld, line, strlen(line)))
		goto nomem;
	rc = 0;
	goto out;
nomem:
	say(ld, "%s: out of memory", ld->path);
out:
	free(line);
	return rc;
}

/* ---- the scan ---------------------------------------------------------- */

/* @p at an opening quote: past the closing one. */
static const char *skip_string(const char *p, const char *end)
{
	char quote = *p++;

	while (p < end && *p != quote)
		p += *p == '\\' && p + 1 < end ? 2 : 1;
	return p < end ? p + 1 : end;
}

/* @p at '[': past the matching ']', counting lines. */
static const char *skip_list(const char *p, const char *end, unsigned int *line)
{
	unsigned int depth = 0;

	while (p < end) {
		switch (*p) {
		case '[':
			depth++;
			p++;
			break;
		case ']':
			p++;
			if (!--depth)
				return p;
			break;
		case '"':
		case '\'':
			p = skip_string(p, end);
			break;
		case '#':
			p += strcspn(p, "\n");
			break;
		case '\n':
			(*line)++;
			p++;
			break;
		default:
			p++;
		}
	}
	return end;
}

static int add_setting(struct load *ld, const struct setting *s)
{
	struct setting *set;

	set = realloc(ld->set, (ld->nr_set + 1) * sizeof(*set));
	if (!set)
		return -1;
	ld->set = set;
	ld->set[ld->nr_set++] = *s;
	return 0;
}

/* Every setting of the text (which libxlutil accepted), in order. */
static int scan(struct load *ld)
{
	const char *p = ld->text, *end = ld->text + ld->len;
	unsigned int line = 1;

	while (p < end) {
		struct setting s = { .key = p };

		if (*p == '\n') {
			line++;
			p++;
			continue;
		}
		if (*p == ' ' || *p == '\t' || *p == ';') {
			p++;
			continue;
		}
		if (*p == '#') {
			p += strcspn(p, "\n");
			continue;
		}
		while (p < end && key_char(*p, p == s.key))
			p++;
		s.key_len = (size_t)(p - s.key);
		s.line = (size_t)(s.key - ld->text) < ld->file_len ? line : 0;
		p += strspn(p, " \t");
		s.add = *p == '+';
		p += s.add;
		if (!s.key_len || *p != '=') {
			say(ld, "%s:%u: cannot find the settings on this line",
			    ld->path, line);
			return -1;
		}
		p++;
		p += strspn(p, " \t");
		if (*p == '[') {
			s.kind = CFG_LIST;
			p = skip_list(p, end, &line);
		} else if (*p == '"' || *p == '\'') {
			s.kind = CFG_STRING;
			p = skip_string(p, end);
		} else {
			s.kind = CFG_NUMBER;
			p += strspn(p, "0123456789abcdefx");
		}
		if (add_setting(ld, &s)) {
			say(ld, "%s: out of memory", ld->path);
			return -1;
		}
	}
	return 0;
}

/* Every key known; none set twice in the file (+= adds to a setting). */
static int check_keys(struct load *ld)
{
	size_t i, j;

	for (i = 0; i < ld->nr_set; i++) {
		const struct setting *s = &ld->set[i];

		if (!find_key(s->key, s->key_len))
			return unknown_key(ld, s);
		if (!s->line || s->add)
			continue;
		for (j = 0; j < i; j++)
			if (ld->set[j].key_len == s->key_len &&
			    !memcmp(ld->set[j].key, s->key, s->key_len))
				return bad(ld, s, find_key(s->key, s->key_len),
					   "set twice (first on line %u)",
					   ld->set[j].line);
	}
	return 0;
}

/* ---- values ------------------------------------------------------------ */

/* The setting that gives @key its value (the last one), or NULL. */
static const struct setting *setting_of(const struct load *ld, const char *key)
{
	size_t i, len = strlen(key);

	for (i = ld->nr_set; i-- > 0;)
		if (ld->set[i].key_len == len &&
		    !memcmp(ld->set[i].key, key, len))
			return &ld->set[i];
	return NULL;
}

/* Printable ASCII only: a value ends up on command lines. */
static bool printable(const char *v)
{
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 || (unsigned char)*v >= 0x7f)
			return false;
	return true;
}

/*
 * @key's string into @v_r (@def if not set), its setting into @s_r (NULL
 * if not set). At most PVFT_CFG_STR_MAX - 1 bytes, printable.
 */
static int get_string(struct load *ld, const char *key, const char *def,
		      const char **v_r, const struct setting **s_r)
{
	const struct setting *s = setting_of(ld, key);

	*s_r = s;
	*v_r = def;
	if (!s)
		return 0;
	if (s->kind == CFG_LIST)
		return bad(ld, s, key, "want a string, not a list");
	if (xlu_cfg_get_string(ld->xlu, key, v_r, 1))
		return bad(ld, s, key, "cannot read the value");
	if (strlen(*v_r) >= PVFT_CFG_STR_MAX)
		return bad(ld, s, key, "want at most %d bytes, not %zu",
			   PVFT_CFG_STR_MAX - 1, strlen(*v_r));
	if (!printable(*v_r))
		return bad(ld, s, key,
			   "want printable ASCII (no control characters), "
			   "not '%s'",
			   show(ld, *v_r));
	return 0;
}

/*
 * Setting @s of @key is a bare number (not a list, a string or a '+='):
 * its text into *@text_r. 0, or -1 after saying what is wanted.
 */
static int number_text(struct load *ld, const struct setting *s,
		       const char *key, const char *want, const char **text_r)
{
	*text_r = "";
	if (s->kind == CFG_LIST)
		return bad(ld, s, key, "%s, not a list", want);
	xlu_cfg_get_string(ld->xlu, key, text_r, 1);
	if (s->kind == CFG_STRING)
		return bad(ld, s, key, "%s, not the string '%s'", want,
			   show(ld, *text_r));
	if (s->add)
		return bad(ld, s, key,
			   "%s, not '+=' (it joins strings and lists)", want);
	return 0;
}

/*
 * @key's number, as xl reads numbers (decimal, 0x hex, 0 octal), from
 * @min to @max, into @v_r (@def if not set). @want says what is wanted.
 */
static int get_number(struct load *ld, const char *key, const char *want,
		      long min, long max, long def, long *v_r,
		      const struct setting **s_r)
{
	const struct setting *s = setting_of(ld, key);
	const char *text;

	*s_r = s;
	*v_r = def;
	if (!s)
		return 0;
	if (number_text(ld, s, key, want, &text))
		return -1;
	if (xlu_cfg_get_long(ld->xlu, key, v_r, 1) || *v_r < min || *v_r > max)
		return bad(ld, s, key, "%s, not '%s'", want, show(ld, text));
	return 0;
}

/* As get_number, for a positive 64-bit number (1..UINT64_MAX). */
static int get_u64(struct load *ld, const char *key, uint64_t def,
		   uint64_t *v_r)
{
	const struct setting *s = setting_of(ld, key);
	const char *want = "want a number from 1 to 18446744073709551615";
	const char *text;
	unsigned long long v;
	char *end;

	*v_r = def;
	if (!s)
		return 0;
	if (number_text(ld, s, key, want, &text))
		return -1;
	errno = 0;
	v = strtoull(text, &end, 0);
	if (errno || end == text || *end || !v)
		return bad(ld, s, key, "%s, not '%s'", want, show(ld, text));
	*v_r = v;
	return 0;
}

/* 1..@max of [A-Za-z0-9._-]: names, node ids, hosts. */
/*
 * 1..@max of [A-Za-z0-9._-], not starting with '.' or '-': never ".",
 * "..", a hidden file, or an option to the command it ends up in.
 */
static bool valid_id(const char *v, size_t max)
{
	size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyz"
			     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

	return n && !v[n] && n <= max && v[0] != '.' && v[0] != '-';
}

bool pvft_cfg__valid_name(const char *name)
{
	return valid_id(name, PVFT_CFG_NAME_MAX);
}

static int get_id(struct load *ld, const char *key, const char *def, size_t max,
		  const char *what, char *out, size_t out_len,
		  const struct setting **s_r)
{
	const char *v;

	if (get_string(ld, key, def, &v, s_r))
		return -1;
	if (!v) /* required, and not set: the caller says so */
		return 0;
	if (!valid_id(v, max))
		return bad(ld, *s_r, key,
			   "want %s: 1 to %zu of A-Z a-z 0-9 . _ - (not first: "
			   ". -), not '%s'",
			   what, max, show(ld, v));
	snprintf(out, out_len, "%s", v);
	return 0;
}

/* One of @choices (NULL-terminated), as an index into @which_r. */
static int get_choice(struct load *ld, const char *key, const char *def,
		      const char *const *choices, const char *want,
		      unsigned int *which_r)
{
	const struct setting *s;
	const char *v;
	unsigned int i;

	if (get_string(ld, key, def, &v, &s))
		return -1;
	for (i = 0; choices[i]; i++)
		if (!strcmp(v, choices[i])) {
			*which_r = i;
			return 0;
		}
	return bad(ld, s, key, "%s, not '%s'", want, show(ld, v));
}

/* ---- the keys ---------------------------------------------------------- */

/*
 * The directory a relative path in @key is relative to, with a '/': the
 * file's (an override's: the current directory, where it was typed).
 */
static int base_dir(struct load *ld, const struct setting *s, const char *key,
		    char *out, size_t len)
{
	const char *slash = strrchr(ld->path, '/');
	char cwd[PATH_MAX];
	int n;

	if (s->line && ld->path[0] == '/')
		n = snprintf(out, len, "%.*s/", (int)(slash - ld->path),
			     ld->path);
	else if (!getcwd(cwd, sizeof(cwd)))
		return bad(ld, s, key,
			   "cannot find the current "
			   "directory: %s",
			   strerror(errno));
	else if (s->line && slash)
		n = snprintf(out, len, "%s/%.*s/", cwd, (int)(slash - ld->path),
			     ld->path);
	else
		n = snprintf(out, len, "%s/", cwd);
	if (n < 0 || (size_t)n >= len)
		return bad(ld, s, key, "the path is too long");
	return 0;
}

/*
 * The guest's ELF, stored absolute: relative to the file's directory (an
 * override's: to the current directory, where the command was typed).
 */
static int load_kernel(struct load *ld)
{
	struct pvft_cfg *cfg = ld->cfg;
	const struct setting *s;
	char path[PATH_MAX];
	struct stat st;
	const char *v;
	int fd, n;

	if (get_string(ld, "kernel", NULL, &v, &s))
		return -1;
	if (!s)
		return bad(ld, NULL, "kernel", "missing (required)");
	if (!*v)
		return bad(ld, s, "kernel",
			   "want the path of the guest's ELF file, not ''");
	if (v[0] == '/') {
		n = snprintf(path, sizeof(path), "%s", v);
	} else {
		if (base_dir(ld, s, "kernel", path, sizeof(path)))
			return -1;
		n = snprintf(path + strlen(path), sizeof(path) - strlen(path),
			     "%s", v);
	}
	if (n < 0 || strlen(path) + 1 >= sizeof(path))
		return bad(ld, s, "kernel", "cannot read '%s': %s",
			   show(ld, path), strerror(ENAMETOOLONG));
	if (!realpath(path, cfg->kernel))
		return bad(ld, s, "kernel", "cannot read '%s': %s",
			   show(ld, path), strerror(errno));
	fd = open(cfg->kernel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return bad(ld, s, "kernel", "cannot read '%s': %s",
			   show(ld, cfg->kernel), strerror(errno));
	n = fstat(fd, &st);
	close(fd);
	if (n || !S_ISREG(st.st_mode))
		return bad(ld, s, "kernel", "cannot read '%s': %s",
			   show(ld, cfg->kernel),
			   n ? strerror(errno) : "not a regular file");
	return 0;
}

static int load_guest(struct load *ld)
{
	static const char *const backends[] = { "auto", "kvm", "ptrace", NULL };
	struct pvft_cfg *cfg = ld->cfg;
	XLU_ConfigList *list;
	const struct setting *s;
	const char *v;
	unsigned int which;
	char want[64];
	long mib;
	int i, n;

	if (get_id(ld, "name", NULL, PVFT_CFG_NAME_MAX, "a domain name",
		   cfg->name, sizeof(cfg->name), &s))
		return -1;
	if (!s)
		return bad(ld, NULL, "name", "missing (required)");
	if (load_kernel(ld))
		return -1;

	snprintf(want, sizeof(want), "want an even number of MiB from %d to %d",
		 PVFT_MIN_MEMORY_MIB, PVFT_MAX_MEMORY_MIB);
	if (get_number(ld, "memory", want, PVFT_MIN_MEMORY_MIB,
		       PVFT_MAX_MEMORY_MIB, CFG_DEFAULT_MEMORY_MIB, &mib, &s))
		return -1;
	if (mib % 2) {
		xlu_cfg_get_string(ld->xlu, "memory", &v, 1);
		return bad(ld, s, "memory", "%s, not '%s'", want, show(ld, v));
	}
	cfg->memory_mib = (unsigned int)mib;

	if (get_string(ld, "cmdline", "", &v, &s))
		return -1;
	snprintf(cfg->cmdline, sizeof(cfg->cmdline), "%s", v);

	s = setting_of(ld, "vif");
	if (s && s->kind != CFG_LIST) {
		xlu_cfg_get_string(ld->xlu, "vif", &v, 1);
		return bad(ld, s, "vif", "want a list: [ \"SPEC\" ], not '%s'",
			   show(ld, v));
	}
	if (s && !xlu_cfg_get_list(ld->xlu, "vif", &list, &n, 1)) {
		if (n > PVFT_CFG_MAX_VIFS)
			return bad(ld, s, "vif", "want at most %d vif, not %d",
				   PVFT_CFG_MAX_VIFS, n);
		for (i = 0; i < n; i++) {
			struct vif_config vc;
			char why[256];

			v = xlu_cfg_get_listitem(list, i);
			if (!v)
				return bad(ld, s, "vif",
					   "want a list of strings, not a "
					   "list in a list");
			if (strlen(v) >= PVFT_CFG_STR_MAX || !printable(v))
				return bad(ld, s, "vif",
					   "want a --vif spec, not '%s'",
					   show(ld, v));
			if (vif__parse(&vc, v, why, sizeof(why)))
				return bad(ld, s, "vif", "%s", why);
			snprintf(cfg->vif[i], sizeof(cfg->vif[i]), "%s", v);
		}
		cfg->nr_vifs = (unsigned int)n;
	}

	if (get_choice(ld, "backend", "auto", backends,
		       "want auto, kvm or ptrace", &which))
		return -1;
	snprintf(cfg->backend, sizeof(cfg->backend), "%s", backends[which]);
	return 0;
}

/*
 * ft_remote: %c (the command, one shell word) exactly once, %h (the
 * host) any number of times, %% a percent sign; nothing else after a %.
 */
static int load_remote(struct load *ld)
{
	const struct setting *s;
	unsigned int commands = 0;
	const char *v, *p;

	if (get_string(ld, "ft_remote", CFG_DEFAULT_REMOTE, &v, &s))
		return -1;
	for (p = v; (p = strchr(p, '%')); p += 2) {
		if (p[1] == 'c')
			commands++;
		else if (p[1] != 'h' && p[1] != '%')
			return bad(ld, s, "ft_remote",
				   "want only %%c, %%h and %%%% after a %%, "
				   "not '%%%.1s' in '%s'",
				   p + 1, show(ld, v));
	}
	if (commands != 1)
		return bad(ld, s, "ft_remote",
			   "want a command template with %%c (the command) "
			   "once, not '%s'",
			   show(ld, v));
	snprintf(ld->cfg->remote, sizeof(ld->cfg->remote), "%s", v);
	return 0;
}

/* A host name or an IP address (@v6: IPv6 too), for a listening socket. */
static int get_addr(struct load *ld, const char *key, bool v6, char *out,
		    size_t out_len)
{
	const struct setting *s;
	struct in6_addr a6;
	const char *v;

	if (get_string(ld, key, CFG_DEFAULT_ADDR, &v, &s))
		return -1;
	if (!valid_id(v, out_len - 1) &&
	    !(v6 && inet_pton(AF_INET6, v, &a6) == 1))
		return bad(ld, s, key,
			   "want a host name or an %s address, "
			   "not '%s'",
			   v6 ? "IPv4 or IPv6" : "IPv4", show(ld, v));
	snprintf(out, out_len, "%s", v);
	return 0;
}

/*
 * ft_reprotect ("auto" or "off") and ft_hosts (the hosts a new backup
 * may be started on, tried in turn): a list of host names, each as
 * ft_primary's. A host other than this one needs ft_log_port, where the
 * new backup listens there (as pvft migrate's backup).
 */
static int load_reprotect(struct load *ld)
{
	static const char *const modes[] = { "off", "auto", NULL };
	struct pvft_cfg *cfg = ld->cfg;
	const struct setting *s;
	XLU_ConfigList *list;
	unsigned int mode;
	const char *v;
	int i, n;

	if (get_choice(ld, "ft_reprotect", "off", modes, "want auto or off",
		       &mode))
		return -1;
	cfg->reprotect_auto = mode == 1;
	s = setting_of(ld, "ft_hosts");
	if (!s) {
		cfg->nr_hosts = 1;
		snprintf(cfg->hosts[0], sizeof(cfg->hosts[0]), "%s",
			 CFG_DEFAULT_HOST);
		return 0;
	}
	if (s->kind != CFG_LIST) {
		xlu_cfg_get_string(ld->xlu, "ft_hosts", &v, 1);
		return bad(ld, s, "ft_hosts",
			   "want a list of host names: [ \"localhost\", "
			   "\"host2\" ], not '%s'",
			   show(ld, v));
	}
	if (xlu_cfg_get_list(ld->xlu, "ft_hosts", &list, &n, 1) || n < 1)
		return bad(ld, s, "ft_hosts",
			   "want at least one host name: [ \"localhost\" ]");
	if (n > PVFT_CFG_MAX_HOSTS)
		return bad(ld, s, "ft_hosts", "want at most %d hosts, not %d",
			   PVFT_CFG_MAX_HOSTS, n);
	for (i = 0; i < n; i++) {
		v = xlu_cfg_get_listitem(list, i);
		if (!v)
			return bad(ld, s, "ft_hosts",
				   "want a list of strings, not a list in a "
				   "list");
		if (!valid_id(v, sizeof(cfg->hosts[0]) - 1))
			return bad(ld, s, "ft_hosts",
				   "want host names: 1 to %zu of A-Z a-z 0-9 . "
				   "_ - (not first: . -), not '%s'",
				   sizeof(cfg->hosts[0]) - 1, show(ld, v));
		if (strcmp(v, CFG_DEFAULT_HOST) && !cfg->log_port)
			return bad(ld, s, "ft_hosts",
				   "'%s' is another host: a backup started "
				   "there listens on ft_log_port: want it set "
				   "(not 0)",
				   show(ld, v));
		snprintf(cfg->hosts[i], sizeof(cfg->hosts[i]), "%s", v);
	}
	cfg->nr_hosts = (unsigned int)n;
	return 0;
}

static int load_arbiter(struct load *ld)
{
	struct pvft_cfg *cfg = ld->cfg;
	const struct setting *s;
	struct arbiter *a;
	char why[256];
	const char *v;
	long port;

	if (get_string(ld, "ft_arbiter", "embedded", &v, &s))
		return -1;
	cfg->arbiter_embedded = !strcmp(v, "embedded");
	if (!cfg->arbiter_embedded) {
		char plain[PVFT_CFG_STR_MAX];

		if (!strstr(v, "://"))
			return bad(ld, s, "ft_arbiter",
				   "want embedded, pvft://HOST:PORT or "
				   "etcds://HOST:PORT[,HOST:PORT...], not '%s'",
				   show(ld, v));
		/*
		 * The URL's syntax only: the credentials are the replicas',
		 * checked by load_auth(). An etcds:// URL is parsed as the
		 * etcd:// one it secures, so that its CA (which may be on
		 * the replicas' hosts only) is not opened here.
		 */
		if (!strncmp(v, CFG_SCHEME_ETCDS "://",
			     strlen(CFG_SCHEME_ETCDS "://")))
			snprintf(plain, sizeof(plain), "etcd%s",
				 v + strlen(CFG_SCHEME_ETCDS));
		else
			snprintf(plain, sizeof(plain), "%s", v);
		if (arbiter__open(&a, plain,
				  &(struct arbiter_auth){ .insecure = true },
				  why, sizeof(why)))
			return bad(ld, s, "ft_arbiter", "%s", why);
		arbiter__close(a);
	}
	snprintf(cfg->arbiter, sizeof(cfg->arbiter), "%s", v);

	/* Replicas reach an embedded arbiter by pvft://ADDR:PORT: no IPv6. */
	if (get_addr(ld, "ft_arbiter_addr", false, cfg->arbiter_addr,
		     sizeof(cfg->arbiter_addr)))
		return -1;
	if (get_number(ld, "ft_arbiter_port",
		       "want a port from 1 to 65535, or 0 for a free one", 0,
		       65535, 0, &port, &s))
		return -1;
	cfg->arbiter_port = (unsigned int)port;
	return 0;
}

static int load_timing(struct load *ld)
{
	struct pvft_cfg *cfg = ld->cfg;
	const struct setting *hs, *ts, *s;
	long hb, to, v;

	if (get_number(ld, "ft_heartbeat_ms", "want a number from 1 to 10000",
		       1, CFG_HEARTBEAT_MS_MAX, CHAN_DEFAULT_HEARTBEAT_MS, &hb,
		       &hs) ||
	    get_number(ld, "ft_timeout_ms", "want a number from 2 to 600000", 2,
		       CFG_TIMEOUT_MS_MAX, CHAN_DEFAULT_TIMEOUT_MS, &to, &ts))
		return -1;
	/* pvft-hv's rule: a peer is not lost for one late heartbeat. */
	if (to < 2 * hb) {
		if (ts)
			return bad(ld, ts, "ft_timeout_ms",
				   "want at least twice ft_heartbeat_ms "
				   "(%ld), not '%ld'",
				   2 * hb, to);
		return bad(ld, hs, "ft_heartbeat_ms",
			   "want at most half of ft_timeout_ms (%ld), "
			   "not '%ld'",
			   to / 2, hb);
	}
	cfg->heartbeat_ms = (unsigned int)hb;
	cfg->timeout_ms = (unsigned int)to;
	if (get_number(ld, "ft_max_lag_ms", "want a number from 1 to 600000", 1,
		       CFG_MAX_LAG_MS_MAX, CHAN_DEFAULT_MAX_LAG_MS, &v, &s))
		return -1;
	cfg->max_lag_ms = (unsigned int)v;
	if (get_number(ld, "ft_connect_timeout",
		       "want a number of seconds from 1 to 86400", 1,
		       CFG_CONNECT_S_MAX, CHAN_DEFAULT_CONNECT_S, &v, &s))
		return -1;
	cfg->connect_timeout_s = (unsigned int)v;
	return 0;
}

/* ---- authentication ---------------------------------------------------- */

/*
 * @key's file path into @out (PATH_MAX bytes), absolute: a relative one is
 * relative to the config's directory, as kernel. "" when not set. The
 * file is not opened: it may be on the replicas' hosts only.
 */
static int get_path(struct load *ld, const char *key, char *out,
		    const struct setting **s_r)
{
	char base[PATH_MAX];
	const char *v;
	int n;

	out[0] = '\0';
	if (get_string(ld, key, NULL, &v, s_r))
		return -1;
	if (!*s_r)
		return 0;
	if (!*v)
		return bad(ld, *s_r, key, "want a file's path, not ''");
	if (v[0] == '/') {
		n = snprintf(out, PATH_MAX, "%s", v);
	} else {
		if (base_dir(ld, *s_r, key, base, sizeof(base)))
			return -1;
		n = snprintf(out, PATH_MAX, "%s%s", base, v);
	}
	if (n < 0 || n >= PATH_MAX) {
		out[0] = '\0';
		return bad(ld, *s_r, key, "the path is too long");
	}
	return 0;
}

/* Where @s is, for a message about another key: "line 7". */
static const char *where(const struct setting *s)
{
	static char buf[32];

	if (!s->line)
		return "the command line";
	snprintf(buf, sizeof(buf), "line %u", s->line);
	return buf;
}

/*
 * Three files that go together (ft_tls_*, ft_arbiter_*): all set, or
 * none. *@first_r: the first one set, or NULL.
 */
static int get_file_set(struct load *ld, const char *const keys[3],
			char *const out[3], const char *what,
			const struct setting **first_r)
{
	const struct setting *s[3], *first = NULL;
	char missing[128] = "";
	const char *first_key = NULL;
	int i, n = 0;

	for (i = 0; i < 3; i++) {
		if (get_path(ld, keys[i], out[i], &s[i]))
			return -1;
		if (s[i] && !first) {
			first = s[i];
			first_key = keys[i];
		}
		n += s[i] != NULL;
	}
	*first_r = first;
	if (n == 0 || n == 3)
		return 0;
	for (i = 0; i < 3; i++)
		if (!s[i])
			snprintf(missing + strlen(missing),
				 sizeof(missing) - strlen(missing), "%s%s",
				 missing[0] ? " and " : "", keys[i]);
	return bad(ld, first, first_key,
		   "want %s, %s and %s together (%s): %s not set", keys[0],
		   keys[1], keys[2], what, missing);
}

enum cfg_arbiter {
	CFG_ARBITER_EMBEDDED,
	CFG_ARBITER_PVFT,  /* pvft://: a pvft-arbiter create does not start */
	CFG_ARBITER_ETCDS, /* etcd over https */
	CFG_ARBITER_ETCD,  /* etcd over plain http */
};

/* The kind of the arbiter ft_arbiter names (its URL parsed already). */
static enum cfg_arbiter arbiter_kind(const struct pvft_cfg *cfg)
{
	if (cfg->arbiter_embedded)
		return CFG_ARBITER_EMBEDDED;
	if (!strncmp(cfg->arbiter, CFG_SCHEME_ETCDS "://",
		     strlen(CFG_SCHEME_ETCDS "://")))
		return CFG_ARBITER_ETCDS;
	if (!strncmp(cfg->arbiter, "etcd://", strlen("etcd://")))
		return CFG_ARBITER_ETCD;
	return CFG_ARBITER_PVFT;
}

/* An etcd user name as pvft takes one: it ends up on command lines. */
static bool valid_user(const char *v)
{
	size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyz"
			     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@");

	return n && !v[n] && n <= PVFT_CFG_NAME_MAX && v[0] != '-';
}

/*
 * ft_key, ft_insecure, ft_tls_*, ft_arbiter_*: one way to authenticate
 * the log channel and the arbiter, or plaintext on purpose. The arbiter's
 * load_arbiter() came first.
 */
static int load_auth(struct load *ld)
{
	static const char *const tls_keys[] = { "ft_tls_ca", "ft_tls_cert",
						"ft_tls_key" };
	struct pvft_cfg *cfg = ld->cfg;
	char *const tls_out[] = { cfg->tls_ca, cfg->tls_cert, cfg->tls_key };
	const struct setting *ks, *is, *ts, *cas, *certs, *keys, *us, *pws, *as,
	    *s;
	const char *user, *as_key;
	enum cfg_arbiter kind = arbiter_kind(cfg);
	long v;

	if (get_path(ld, "ft_key", cfg->key, &ks))
		return -1;
	cfg->key_line = ks ? ks->line : 0;
	if (get_file_set(ld, tls_keys, tls_out, "x509 for the log channel",
			 &ts))
		return -1;
	/* etcds://: the CA; a client certificate and its key, or neither. */
	if (get_path(ld, "ft_arbiter_ca", cfg->arbiter_ca, &cas) ||
	    get_path(ld, "ft_arbiter_cert", cfg->arbiter_cert, &certs) ||
	    get_path(ld, "ft_arbiter_key", cfg->arbiter_key, &keys))
		return -1;
	if (!certs != !keys)
		return bad(ld, certs ? certs : keys,
			   certs ? "ft_arbiter_cert" : "ft_arbiter_key",
			   "want ft_arbiter_cert and ft_arbiter_key together "
			   "(a client certificate and its key): %s not set",
			   certs ? "ft_arbiter_key" : "ft_arbiter_cert");
	/* etcd's own authentication: the pair's user and its password. */
	if (get_string(ld, "ft_arbiter_user", NULL, &user, &us) ||
	    get_path(ld, "ft_arbiter_password_file", cfg->arbiter_password_file,
		     &pws))
		return -1;
	if (us && !valid_user(user))
		return bad(ld, us, "ft_arbiter_user",
			   "want an etcd user name: 1 to %d of A-Z a-z 0-9 . _ "
			   "- @ (not first: -), not '%s'",
			   PVFT_CFG_NAME_MAX, show(ld, user));
	if (!us != !pws)
		return bad(ld, us ? us : pws,
			   us ? "ft_arbiter_user" : "ft_arbiter_password_file",
			   "want ft_arbiter_user and ft_arbiter_password_file "
			   "together (etcd's user and its password): %s not "
			   "set",
			   us ? "ft_arbiter_password_file" : "ft_arbiter_user");
	if (us)
		snprintf(cfg->arbiter_user, sizeof(cfg->arbiter_user), "%s",
			 user);
	/* The first of the etcds:// credentials set, for messages. */
	as = cas ? cas : certs ? certs : us;
	as_key = cas	 ? "ft_arbiter_ca"
		 : certs ? "ft_arbiter_cert"
			 : "ft_arbiter_user";
	if (get_number(ld, "ft_insecure", "want 0 or 1", 0, 1, 0, &v, &is))
		return -1;
	cfg->insecure = v;

	if (cfg->insecure) {
		const char *other = ks	 ? "ft_key"
				    : ts ? tls_keys[0]
				    : as ? as_key
					 : NULL;

		s = ks ? ks : ts ? ts : as;
		if (other)
			return bad(ld, is, "ft_insecure",
				   "plaintext on purpose, yet %s (%s) "
				   "authenticates: want one or the other",
				   other, where(s));
		if (kind == CFG_ARBITER_ETCDS)
			return bad(ld, is, "ft_insecure",
				   "plaintext on purpose, yet ft_arbiter is "
				   "etcds:// (https): want etcd:// with it");
	}
	if (as && kind != CFG_ARBITER_ETCDS)
		return bad(ld, as, as_key,
			   "for an etcds:// arbiter (etcd over https), not "
			   "'%s'%s",
			   show(ld, cfg->arbiter),
			   kind == CFG_ARBITER_ETCD
			       ? ""
			       : ": a pvft-arbiter knows a pair by a key "
				 "derived from ft_key");
	/*
	 * An arbiter is asked only by a pair. (A single domain that create
	 * starts protectable asks it when pvft protect gives it a backup:
	 * create decides whether it can be, ts__protectable().)
	 */
	if (!cfg->replicated)
		return 0;
	/*
	 * A pvft-arbiter create does not start was given the pair's key
	 * beforehand (pvft keygen --arbiter): from a key create cannot make.
	 */
	if (kind == CFG_ARBITER_PVFT && !ks && !cfg->insecure)
		return bad(ld, setting_of(ld, "ft_arbiter"), "ft_arbiter",
			   "a pvft-arbiter create does not start knows the "
			   "pair by a key derived from the domain key: want "
			   "ft_key too (pvft keygen; pvft keygen --arbiter "
			   "for the arbiter's --keys), or ft_insecure = 1");
	if (kind == CFG_ARBITER_ETCD && !cfg->insecure)
		return bad(ld, setting_of(ld, "ft_arbiter"), "ft_arbiter",
			   "etcd:// is plain http: want etcds:// (https, "
			   "with ft_arbiter_ca), or ft_insecure = 1");
	if (kind == CFG_ARBITER_ETCDS && !cas)
		return bad(ld, setting_of(ld, "ft_arbiter"), "ft_arbiter",
			   "etcds:// wants ft_arbiter_ca: the CA that etcd's "
			   "certificate must chain to");
	cfg->key_auto =
	    !cfg->insecure && !ks && (!ts || kind == CFG_ARBITER_EMBEDDED);
	return 0;
}

int pvft_cfg__load_key(const struct pvft_cfg *cfg, uint8_t *key, char *err,
		       size_t errlen)
{
	char why[PATH_MAX + 256];

	if (!tls__load_key(cfg->key, key, why, sizeof(why)))
		return 0;
	if (cfg->key_line)
		snprintf(err, errlen, "%s:%u: ft_key: %s", cfg->path,
			 cfg->key_line, why);
	else
		snprintf(err, errlen, "%s: ft_key: %s", CFG_CMDLINE, why);
	return -1;
}

/* The default pair id: FNV-1a of the name, so the same name, the same id. */
static uint64_t name_pair(const char *name)
{
	uint64_t h = FNV64_OFFSET;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * FNV64_PRIME;
	return h ? h : 1;
}

static int load_ft(struct load *ld)
{
	static const char *const modes[] = { "pair", "single", NULL };
	struct pvft_cfg *cfg = ld->cfg;
	const struct setting *ps, *bs, *s;
	char def_a[PVFT_CFG_NAME_MAX + 1], def_b[PVFT_CFG_NAME_MAX + 1];
	unsigned int mode;
	long port;

	if (get_choice(ld, "ft_mode", "pair", modes, "want pair or single",
		       &mode))
		return -1;
	cfg->replicated = mode == 0;

	if (get_id(ld, "ft_primary", CFG_DEFAULT_HOST,
		   sizeof(cfg->primary.host) - 1, "a host name",
		   cfg->primary.host, sizeof(cfg->primary.host), &s) ||
	    get_id(ld, "ft_backup", CFG_DEFAULT_HOST,
		   sizeof(cfg->backup.host) - 1, "a host name",
		   cfg->backup.host, sizeof(cfg->backup.host), &s))
		return -1;

	snprintf(def_a, sizeof(def_a), "%.*s-a", PVFT_CFG_NAME_MAX - 2,
		 cfg->name);
	snprintf(def_b, sizeof(def_b), "%.*s-b", PVFT_CFG_NAME_MAX - 2,
		 cfg->name);
	if (get_id(ld, "ft_primary_node", def_a, PVFT_CFG_NAME_MAX, "a node id",
		   cfg->primary.node, sizeof(cfg->primary.node), &ps) ||
	    get_id(ld, "ft_backup_node", def_b, PVFT_CFG_NAME_MAX, "a node id",
		   cfg->backup.node, sizeof(cfg->backup.node), &bs))
		return -1;
	if (!strcmp(cfg->primary.node, cfg->backup.node))
		return bad(
		    ld, bs ? bs : ps, bs ? "ft_backup_node" : "ft_primary_node",
		    "want a node id other than the %s's, not '%s'",
		    bs ? "primary" : "backup", show(ld, cfg->backup.node));

	if (load_remote(ld))
		return -1;
	if (get_addr(ld, "ft_log_addr", true, cfg->log_addr,
		     sizeof(cfg->log_addr)))
		return -1;
	if (get_number(ld, "ft_log_port",
		       "want a port from 1 to 65535, or 0 for a free one", 0,
		       65535, 0, &port, &s))
		return -1;
	cfg->log_port = (unsigned int)port;
	if (get_number(ld, "ft_migrate_port", "want a port from 1 to 65535", 1,
		       65535, PVFT_CFG_MIGRATE_PORT, &port, &s))
		return -1;
	cfg->migrate_port = (unsigned int)port;
	if (load_reprotect(ld) || load_arbiter(ld) || load_timing(ld))
		return -1;
	if (get_u64(ld, "ft_pair", name_pair(cfg->name), &cfg->pair) ||
	    get_u64(ld, "ft_epoch", 1, &cfg->epoch))
		return -1;
	return load_auth(ld);
}

/* ---- the entry point --------------------------------------------------- */

/*
 * libxlutil's message for the whole text: a line past the file's end is
 * an override's (only += across file and command line can fail here).
 */
static void combined_error(struct load *ld, const char *msg)
{
	size_t plen = strlen(ld->path);
	unsigned long line;
	char *end;

	if (!strncmp(msg, ld->path, plen) && msg[plen] == ':') {
		line = strtoul(msg + plen + 1, &end, 10);
		if (end != msg + plen + 1 && *end == ':' &&
		    line > ld->file_lines) {
			say(ld, "%s:%s", CFG_CMDLINE, end + 1);
			return;
		}
	}
	say(ld, "%s", msg);
}

int pvft_cfg__load(struct pvft_cfg *cfg, const char *path,
		   char *const *overrides, int nover, char *err, size_t errlen)
{
	struct load ld = {
		.cfg = cfg,
		.path = path,
		.err = err,
		.errlen = errlen,
	};
	struct parse p = { 0 };
	char msg[512];
	int i, e, rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	if (errlen)
		err[0] = '\0';
	if (read_file(&ld))
		goto out;
	snprintf(cfg->path, sizeof(cfg->path), "%s", path);

	/* The file alone first: its syntax errors name its lines. */
	e = parse(&p, path, ld.text, ld.len, msg, sizeof(msg));
	parse_dispose(&p);
	if (e) {
		say(&ld, "%s", msg);
		goto out;
	}
	for (i = 0; i < nover; i++)
		if (add_override(&ld, overrides[i]))
			goto out;
	if (ld.len > INT_MAX) {
		say(&ld, "%s: too many overrides", CFG_CMDLINE);
		goto out;
	}
	e = parse(&p, path, ld.text, ld.len, msg, sizeof(msg));
	ld.xlu = p.xlu;
	if (e) {
		combined_error(&ld, msg);
		goto out;
	}
	if (scan(&ld) || check_keys(&ld))
		goto out;
	if (load_guest(&ld) || load_ft(&ld))
		goto out;
	rc = 0;
out:
	parse_dispose(&p);
	free(ld.set);
	free(ld.text);
	return rc;
}
