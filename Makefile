# pvft: one top-level make, Xen/Linux kbuild style. Each directory's Kbuild
# lists its objects (obj-y), programs (prog-y) and guests (guest-y); this file
# turns them into build/. Quiet unless V=1.
#
#   make          build everything into build/
#   make demo     the main job (installs build dependencies first)
#   make check    all tests, ending with one line "N passed, N failed"
#   make soak     the live pair tests with PAIR_TRIALS (300) primaries killed
#   make bench    benchmarks, each printing ratios against its baseline
#   make fuzz     the libFuzzer targets, FUZZ_SECONDS (300) each
#   make deps     install missing Debian build dependencies

BUILD ?= build
V ?= 0
CC := gcc
AR := ar

ifeq ($(V),1)
Q :=
msg =
else
Q := @
msg = @printf '  %-7s %s\n' '$(1)' '$(2)'
MAKEFLAGS += --no-print-directory
endif

WARN := -Wall -Wextra -Werror
HOST_CFLAGS := -O2 -g -std=gnu11 $(WARN) -D_GNU_SOURCE -pthread \
	-iquote include -iquote lib -iquote hv -iquote logchan -iquote arbiter \
	-MMD -MP
HOST_LDLIBS := -pthread -lxxhash -lgnutls
# The arbiter client's etcd backend: HTTP and JSON.
ARBITER_LDLIBS := -lcurl -ljson-c
# Guests run in ring 3 on a bare identity map: no libc, no PIC, no red zone,
# no stack protector, no CET; see DESIGN.md section 6.
GUEST_CFLAGS := -O2 -g -std=gnu11 $(WARN) -ffreestanding -nostdlib -fno-pic \
	-no-pie -mno-red-zone -fno-stack-protector -fcf-protection=none \
	-fno-asynchronous-unwind-tables -fno-exceptions \
	-Iinclude -Iguest/include -MMD -MP
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none \
	-Wl,-z,noexecstack -Wl,-z,max-page-size=4096 -T guest/guest.lds

include Kbuild

# Read each directory's Kbuild with its lists scoped to that directory.
define add_subdir
obj-y :=
prog-y :=
guest-y :=
test-y :=
include $(1)/Kbuild
objs-$(1) := $$(addprefix $(BUILD)/$(1)/,$$(obj-y))
progs-$(1) := $$(prog-y)
guests-$(1) := $$(guest-y)
tests-$(1) := $$(addprefix $(BUILD)/$(1)/,$$(test-y))
endef
$(foreach d,$(subdir-y),$(eval $(call add_subdir,$(d))))

LIBPVFT := $(BUILD)/lib/libpvft.a
# pvft-hv minus its main(): linked into pvft-hv, the unit tests and benches.
LIBHV := $(BUILD)/hv/libhv.a
# The log format and channel: linked into pvft-hv and the pvft CLI. It
# needs only libpvft: the channel asks its caller's pair policy, never the
# arbiter.
LIBLOGCHAN := $(BUILD)/logchan/liblogchan.a
# The arbiter client: linked into pvft-hv (its pair policy, hv/fence.c),
# the pvft CLI, pvft-arbiter, the unit tests and benches (with
# $(ARBITER_LDLIBS)).
LIBARBITER := $(BUILD)/arbiter/libarbiter.a
GUEST_RT := $(objs-guest)
GUESTS := $(addprefix $(BUILD)/guest/,$(addsuffix .elf,$(guests-guest)))
PROGS := $(BUILD)/bin/pvft-hv $(BUILD)/bin/pvft $(BUILD)/bin/compute-native \
	$(BUILD)/bin/pvft-exitbench $(BUILD)/bin/pvft-arbiter \
	$(BUILD)/bin/pvft-tcprtt
UNIT_TESTS := $(BUILD)/bin/pvft-unit-tests
FUZZERS := $(BUILD)/bin/pvft-fuzz-elf $(BUILD)/bin/pvft-fuzz-hypercall \
	$(BUILD)/bin/pvft-fuzz-log $(BUILD)/bin/pvft-fuzz-net \
	$(BUILD)/bin/pvft-fuzz-migstream

.PHONY: all deps demo check soak bench fuzz clean format
.PHONY: man install install-files uninstall
# Guest objects are named here so that make never takes them for
# throw-away intermediates of the %.elf pattern and deletes them.
all: $(PROGS) $(GUESTS) $(UNIT_TESTS) $(FUZZERS) $(GUEST_RT) \
	$(patsubst %.elf,$(BUILD)/guest/apps/%.o,$(notdir $(GUESTS)))

deps:
	$(Q)scripts/deps.sh

# Host objects.
$(BUILD)/%.o: %.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(HOST_CFLAGS) -c -o $@ $<

# Guest objects (more specific pattern, so it wins for guest/).
$(BUILD)/guest/%.o: guest/%.c
	$(call msg,CC [G],$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(GUEST_CFLAGS) -c -o $@ $<

$(BUILD)/guest/%.o: guest/%.S
	$(call msg,AS [G],$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(GUEST_CFLAGS) -D__ASSEMBLY__ -c -o $@ $<

$(BUILD)/guest/%.elf: $(BUILD)/guest/apps/%.o $(GUEST_RT) guest/guest.lds
	$(call msg,LD [G],$@)
	$(Q)$(CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ $(GUEST_RT) $< -lgcc

$(LIBPVFT): $(objs-lib)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(LIBHV): $(filter-out $(BUILD)/hv/main.o,$(objs-hv))
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(LIBLOGCHAN): $(objs-logchan)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(LIBARBITER): $(filter-out $(BUILD)/arbiter/pvft-arbiter.o,$(objs-arbiter))
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/bin/pvft-hv: $(BUILD)/hv/main.o $(LIBHV) $(LIBLOGCHAN) $(LIBARBITER) \
	$(LIBPVFT)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -o $@ $^ $(HOST_LDLIBS) $(ARBITER_LDLIBS)

# pvft, the dom0 command. It checks a config's vifs with pvft-hv's own
# parser (hv/vifspec.c) and reads configs with libxlutil.
$(BUILD)/bin/pvft: $(objs-dom0-tools) $(BUILD)/hv/vifspec.o $(LIBLOGCHAN) \
	$(LIBARBITER) $(LIBPVFT)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -o $@ $^ $(HOST_LDLIBS) $(ARBITER_LDLIBS) -lxlutil

# pvft-arbiter, the test-and-set daemon.
$(BUILD)/bin/pvft-arbiter: $(BUILD)/arbiter/pvft-arbiter.o $(LIBARBITER) \
	$(LIBPVFT)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -o $@ $^ $(HOST_LDLIBS) $(ARBITER_LDLIBS)

# The compute guest's source, built as an ordinary host program.
$(BUILD)/native/compute.o: guest/apps/compute.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(HOST_CFLAGS) -DPVFT_NATIVE -c -o $@ $<

$(BUILD)/bin/compute-native: $(BUILD)/native/compute.o
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -o $@ $^ $(HOST_LDLIBS)

# The loopback TCP round trip: the output rule's baseline.
$(BUILD)/bin/pvft-tcprtt: $(BUILD)/bench-tools/tcprtt.o
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -o $@ $^ $(HOST_LDLIBS)

$(BUILD)/bench-tools/tcprtt.o: bench/tcprtt.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(HOST_CFLAGS) -c -o $@ $<

$(BUILD)/bin/pvft-exitbench: $(objs-bench) $(LIBHV) $(LIBLOGCHAN) \
	$(LIBARBITER) $(LIBPVFT)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -o $@ $^ $(HOST_LDLIBS) $(ARBITER_LDLIBS)

# The unit tests build the production sources again with ASan and UBSan, so
# that a bad index or overflow fails a test instead of passing unnoticed.
SAN_CFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
SAN_OBJS := $(patsubst $(BUILD)/%,$(BUILD)/san/%,$(tests-tests) \
	$(filter-out $(BUILD)/hv/main.o,$(objs-hv)) \
	$(filter-out $(BUILD)/arbiter/pvft-arbiter.o,$(objs-arbiter)) \
	$(objs-logchan) $(objs-lib) $(BUILD)/dom0-tools/config.o)
# The guest's pure code (no hypercalls) is tested on the host too. Its
# headers come first by -iquote only, so that guest/include's time.h and
# errno.h never stand in for the host's <time.h> and <errno.h>.
GUEST_HOSTED := $(BUILD)/san/guest/net.o $(BUILD)/san/guest/kvstore.o
SAN_OBJS += $(GUEST_HOSTED)
$(GUEST_HOSTED) $(BUILD)/san/tests/unit/test_net.o \
	$(BUILD)/san/tests/unit/test_kvstore.o: \
	HOST_CFLAGS := -iquote guest/include $(HOST_CFLAGS)

$(BUILD)/san/%.o: %.c
	$(call msg,CC [S],$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(HOST_CFLAGS) $(SAN_CFLAGS) -c -o $@ $<

$(UNIT_TESTS): $(SAN_OBJS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SAN_CFLAGS) -o $@ $^ -lcunit $(HOST_LDLIBS) $(ARBITER_LDLIBS) \
		-lxlutil

# libFuzzer targets (clang), over the production sources they exercise.
FUZZ_CFLAGS := -g -O1 -std=gnu11 $(WARN) -D_GNU_SOURCE \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-iquote include -iquote lib -iquote hv -iquote logchan -iquote arbiter
$(BUILD)/bin/pvft-fuzz-elf: tests/fuzz/fuzz_elf.c hv/elf.c hv/elf.h \
	include/pvft/abi.h
	$(call msg,CLANG,$@)
	$(Q)mkdir -p $(@D)
	$(Q)clang $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^)

# hypercall__dispatch and everything it reaches, on a domain without a vCPU.
# The hypercall surface, linked with the devices and the gate's core only:
# no control socket, channel, arbiter, curl or json-c.
FUZZ_HYPERCALL_SRCS := tests/fuzz/fuzz_hypercall.c hv/hypercall.c \
	hv/guestmem.c hv/evtchn.c hv/sched.c hv/console.c hv/coninput.c \
	hv/device.c hv/devices.c hv/deliver.c hv/digest.c hv/gate.c \
	hv/values.c hv/timer.c hv/hcname.c hv/domain.c hv/layout.c hv/elf.c \
	hv/cpuid.c hv/netback.c hv/vifspec.c logchan/logfmt.c lib/log.c \
	lib/consink.c lib/hostport.c
$(BUILD)/bin/pvft-fuzz-hypercall: $(FUZZ_HYPERCALL_SRCS) \
	$(wildcard hv/*.h logchan/*.h lib/*.h) include/pvft/abi.h \
	include/pvft/netcodec.h
	$(call msg,CLANG,$@)
	$(Q)mkdir -p $(@D)
	$(Q)clang $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) -pthread -lxxhash

# The log decoder: header, records, typed payloads, on hostile bytes.
$(BUILD)/bin/pvft-fuzz-log: tests/fuzz/fuzz_log.c logchan/logfmt.c \
	logchan/logfmt.h include/pvft/abi.h
	$(call msg,CLANG,$@)
	$(Q)mkdir -p $(@D)
	$(Q)clang $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^)

# The migration stream's decoder and body parsers, on hostile bytes; its
# seeds are written by the codec's own encoder (tests/fuzz/run.sh).
$(BUILD)/bin/pvft-fuzz-migstream: tests/fuzz/fuzz_migstream.c lib/migstream.c \
	lib/migstream.h
	$(call msg,CLANG,$@)
	$(Q)mkdir -p $(@D)
	$(Q)clang $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) -lxxhash

all: $(BUILD)/bin/pvft-migstream-seeds $(BUILD)/bin/pvft-migtamper
$(BUILD)/bin/pvft-migtamper: $(BUILD)/tests/tools/migtamper.o \
	$(BUILD)/lib/migstream.o
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -o $@ $^ $(HOST_LDLIBS)

$(BUILD)/bin/pvft-migstream-seeds: $(BUILD)/tests/fuzz/migstream_seeds.o \
	$(BUILD)/lib/migstream.o
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -o $@ $^ $(HOST_LDLIBS)

# The guest's IPv4 stack and kv service on a peer's bytes, built for the
# host as GUEST_HOSTED is: guest/include by -iquote only, and first.
$(BUILD)/bin/pvft-fuzz-net: tests/fuzz/fuzz_net.c guest/net.c guest/kvstore.c \
	guest/include/net.h guest/include/kvstore.h guest/include/cmdline.h \
	include/pvft/kv.h include/pvft/netcodec.h
	$(call msg,CLANG,$@)
	$(Q)mkdir -p $(@D)
	$(Q)clang -iquote guest/include $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^)

# Host programs the test scripts drive: each tests/tools/NAME.c plus the
# shared TCP helpers (the kv tools use their HOST:PORT parsing).
TEST_TOOLS := $(BUILD)/bin/pvft-faultproxy $(BUILD)/bin/pvft-echoserver \
	$(BUILD)/bin/pvft-kv-client $(BUILD)/bin/pvft-kv-fake \
	$(BUILD)/bin/pvft-ctlclient $(BUILD)/bin/pvft-udpbind
all: $(TEST_TOOLS)
$(TEST_TOOLS): $(BUILD)/bin/pvft-%: $(BUILD)/tests/tools/%.o \
	$(BUILD)/tests/tools/tcp.o
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -o $@ $^

# The fake log-channel peer (tests/security) speaks the channel's TLS and
# log format: it links their production sources.
all: $(BUILD)/bin/pvft-fakepeer
$(BUILD)/bin/pvft-fakepeer: $(BUILD)/tests/tools/fakepeer.o \
	$(BUILD)/tests/tools/tcp.o $(BUILD)/lib/tls.o $(BUILD)/lib/io.o \
	$(BUILD)/logchan/logfmt.o
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -o $@ $^ $(HOST_LDLIBS)

# The user-facing targets install dependencies first, then build.
demo: deps
	$(Q)$(MAKE) all
	$(Q)scripts/demo.sh $(BUILD)

check: deps
	$(Q)$(MAKE) all
	$(Q)tests/run-all.sh $(BUILD)

# The live pair's failover, many times over (make check kills 20 primaries).
PAIR_TRIALS ?= 300
# make soak's chain: failovers, each re-protected (kills of joins too).
SOAK_CHAIN ?= 100
soak: deps
	$(Q)$(MAKE) all
	$(Q)PAIR_TRIALS=$(PAIR_TRIALS) tests/pair/run.sh $(BUILD)
	$(Q)tests/reprotect/chain.sh $(BUILD) $(SOAK_CHAIN) 1

bench: deps
	$(Q)$(MAKE) all
	$(Q)bench/run.sh $(BUILD)

# The long fuzzing run (make check does 15 s per target).
FUZZ_SECONDS ?= 300
fuzz: deps
	$(Q)$(MAKE) all
	$(Q)tests/fuzz/run.sh $(BUILD) $(FUZZ_SECONDS)

format:
	$(Q)clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	$(Q)rm -rf $(BUILD)

# ---- Installation: man pages, make install, make uninstall ----------------
#
#   make man        Documentation/man/NAME.SECTION.md -> $(BUILD)/man/NAME.SECTION
#                   (pandoc; every page there, pvft.cfg.5 included)
#   make install    the build, for PREFIX (/usr/local), staged under DESTDIR
#   make uninstall  removes it again, but not the admin's /etc/default file
#
# make install puts, under $(DESTDIR):
#   $(PREFIX)/sbin/pvft, pvft-hv, pvft-arbiter    dom0 admin tools, as xl's
#   $(PREFIX)/lib/pvft/guest/NAME.elf             the example guests
#   $(PREFIX)/share/man/man1,5,8/                 the man pages
#   $(PREFIX)/share/bash-completion/completions/pvft (pvft-hv, pvft-arbiter:
#                                                 symbolic links to it)
#   $(PREFIX)/lib/systemd/system/pvft-arbiter.service  ExecStart rewritten to
#                                                 $(PREFIX)/sbin/pvft-arbiter
#   $(SYSCONFDIR)/default/pvft-arbiter            the unit's settings
#   $(PREFIX)/share/doc/pvft/                     README.md, Documentation/*.md
#   $(PREFIX)/share/doc/pvft/examples/*.cfg       examples/*.cfg, their
#                                                 kernel = paths rewritten to
#                                                 $(PREFIX)/lib/pvft/guest/
# SYSCONFDIR is /etc whatever the PREFIX: systemd runs a unit from
# /usr/local/lib/systemd/system too, and a Debian admin looks for a
# service's settings in /etc/default, never in /usr/local/etc. The unit's
# EnvironmentFile is rewritten to match. An existing settings file is the
# admin's and is left alone, as dpkg leaves a changed conffile.
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
SBINDIR := $(PREFIX)/sbin
GUESTDIR := $(PREFIX)/lib/pvft/guest
MANDIR := $(PREFIX)/share/man
COMPLETIONDIR := $(PREFIX)/share/bash-completion/completions
UNITDIR := $(PREFIX)/lib/systemd/system
DOCDIR := $(PREFIX)/share/doc/pvft
DEFAULTFILE := $(SYSCONFDIR)/default/pvft-arbiter

INSTALL_PROGS := $(BUILD)/bin/pvft $(BUILD)/bin/pvft-hv \
	$(BUILD)/bin/pvft-arbiter
MAN_PAGES := $(patsubst Documentation/man/%.md,$(BUILD)/man/%,\
	$(wildcard Documentation/man/*.md))
INSTALL_DOCS := README.md $(wildcard Documentation/*.md)
EXAMPLES := $(wildcard examples/*.cfg)
# No smart typography ("--memory" stays two hyphens), no hyphenation of
# option and file names.
PANDOC_FLAGS := -s -f markdown-smart -M hyphenate=false -t man

man: $(MAN_PAGES)

$(BUILD)/man/%: Documentation/man/%.md
	$(call msg,PANDOC,$@)
	$(Q)command -v pandoc >/dev/null || \
		{ echo "make man: no pandoc (make deps installs it)" >&2; exit 1; }
	$(Q)mkdir -p $(@D)
	$(Q)pandoc $(PANDOC_FLAGS) -o $@ $<

# Like demo and check, install makes sure the build dependencies (pandoc
# for the man pages) are there first.
install: deps
	$(Q)$(MAKE) install-files

install-files: $(INSTALL_PROGS) $(GUESTS) $(MAN_PAGES)
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)set -e; \
	for f in $(INSTALL_PROGS); do \
		install -D -m 755 $$f $(DESTDIR)$(SBINDIR)/$${f##*/}; \
	done; \
	for f in $(GUESTS); do \
		install -D -m 644 $$f $(DESTDIR)$(GUESTDIR)/$${f##*/}; \
	done; \
	for f in $(MAN_PAGES); do \
		install -D -m 644 $$f $(DESTDIR)$(MANDIR)/man$${f##*.}/$${f##*/}; \
	done; \
	install -D -m 644 dom0-tools/bash-completion/pvft \
		$(DESTDIR)$(COMPLETIONDIR)/pvft; \
	ln -sf pvft $(DESTDIR)$(COMPLETIONDIR)/pvft-hv; \
	ln -sf pvft $(DESTDIR)$(COMPLETIONDIR)/pvft-arbiter; \
	install -d -m 755 $(DESTDIR)$(UNITDIR); \
	sed -e 's|/usr/sbin/pvft-arbiter|$(SBINDIR)/pvft-arbiter|' \
	    -e 's|/etc/default/pvft-arbiter|$(DEFAULTFILE)|' \
		dom0-tools/systemd/pvft-arbiter.service \
		>$(DESTDIR)$(UNITDIR)/pvft-arbiter.service; \
	chmod 644 $(DESTDIR)$(UNITDIR)/pvft-arbiter.service; \
	if [ -e $(DESTDIR)$(DEFAULTFILE) ]; then \
		echo "  KEEP    $(DESTDIR)$(DEFAULTFILE) (the admin's)"; \
	else \
		install -D -m 644 dom0-tools/systemd/pvft-arbiter.default \
			$(DESTDIR)$(DEFAULTFILE); \
	fi; \
	for f in $(INSTALL_DOCS); do \
		install -D -m 644 $$f $(DESTDIR)$(DOCDIR)/$${f##*/}; \
	done; \
	install -d -m 755 $(DESTDIR)$(DOCDIR)/examples; \
	for f in $(EXAMPLES); do \
		sed -e "s|\([\"']\)[^\"']*build/guest/\([^\"'/]*\.elf\)\1|\1$(GUESTDIR)/\2\1|g" \
			$$f >$(DESTDIR)$(DOCDIR)/examples/$${f##*/}; \
		chmod 644 $(DESTDIR)$(DOCDIR)/examples/$${f##*/}; \
	done

uninstall:
	$(call msg,REMOVE,$(DESTDIR)$(PREFIX))
	$(Q)rm -f $(addprefix $(DESTDIR)$(SBINDIR)/,$(notdir $(INSTALL_PROGS))) \
		$(addprefix $(DESTDIR)$(GUESTDIR)/,$(notdir $(GUESTS))) \
		$(foreach f,$(notdir $(MAN_PAGES)),\
			$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(f)))/$(f)) \
		$(addprefix $(DESTDIR)$(COMPLETIONDIR)/,pvft pvft-hv pvft-arbiter) \
		$(DESTDIR)$(UNITDIR)/pvft-arbiter.service \
		$(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(INSTALL_DOCS))) \
		$(addprefix $(DESTDIR)$(DOCDIR)/examples/,$(notdir $(EXAMPLES)))
	$(Q)rmdir --ignore-fail-on-non-empty $(DESTDIR)$(GUESTDIR) \
		$(DESTDIR)$(PREFIX)/lib/pvft $(DESTDIR)$(DOCDIR)/examples \
		$(DESTDIR)$(DOCDIR) 2>/dev/null || true

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
