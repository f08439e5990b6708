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
HOST_LDLIBS := -pthread -lxxhash
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
# The log format and channel: linked into pvft-hv and the pvft CLI.
LIBLOGCHAN := $(BUILD)/logchan/liblogchan.a
# The arbiter client: linked into pvft-hv, the pvft CLI, pvft-arbiter, the
# unit tests and benches (with $(ARBITER_LDLIBS)).
LIBARBITER := $(BUILD)/arbiter/libarbiter.a
GUEST_RT := $(objs-guest)
GUESTS := $(addprefix $(BUILD)/guest/,$(addsuffix .elf,$(guests-guest)))
PROGS := $(BUILD)/bin/pvft-hv $(BUILD)/bin/pvft $(BUILD)/bin/compute-native \
	$(BUILD)/bin/pvft-exitbench $(BUILD)/bin/pvft-arbiter \
	$(BUILD)/bin/pvft-tcprtt
UNIT_TESTS := $(BUILD)/bin/pvft-unit-tests
FUZZERS := $(BUILD)/bin/pvft-fuzz-elf $(BUILD)/bin/pvft-fuzz-hypercall \
	$(BUILD)/bin/pvft-fuzz-log $(BUILD)/bin/pvft-fuzz-net

.PHONY: all deps demo check soak bench fuzz clean format
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

# pvft, the dom0 command.
$(BUILD)/bin/pvft: $(objs-dom0-tools) $(LIBLOGCHAN) $(LIBARBITER) $(LIBPVFT)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -o $@ $^ $(HOST_LDLIBS) $(ARBITER_LDLIBS)

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
	$(objs-logchan) $(objs-lib))
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
	$(Q)$(CC) $(SAN_CFLAGS) -o $@ $^ -lcunit $(HOST_LDLIBS) $(ARBITER_LDLIBS)

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
FUZZ_HYPERCALL_SRCS := tests/fuzz/fuzz_hypercall.c hv/hypercall.c \
	hv/guestmem.c hv/evtchn.c hv/sched.c hv/console.c hv/domain.c \
	hv/layout.c hv/elf.c hv/gate.c hv/cpuid.c hv/netback.c logchan/logfmt.c \
	logchan/logfile.c logchan/chan.c $(filter-out arbiter/pvft-arbiter.c,\
	$(wildcard arbiter/*.c)) lib/log.c
$(BUILD)/bin/pvft-fuzz-hypercall: $(FUZZ_HYPERCALL_SRCS) \
	$(wildcard hv/*.h logchan/*.h) lib/log.h include/pvft/abi.h
	$(call msg,CLANG,$@)
	$(Q)mkdir -p $(@D)
	$(Q)clang $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) $(HOST_LDLIBS) $(ARBITER_LDLIBS)

# The log decoder: header, records, typed payloads, on hostile bytes.
$(BUILD)/bin/pvft-fuzz-log: tests/fuzz/fuzz_log.c logchan/logfmt.c \
	logchan/logfmt.h include/pvft/abi.h
	$(call msg,CLANG,$@)
	$(Q)mkdir -p $(@D)
	$(Q)clang $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^)

# The guest's IPv4 stack and kv service on a peer's bytes, built for the
# host as GUEST_HOSTED is: guest/include by -iquote only, and first.
$(BUILD)/bin/pvft-fuzz-net: tests/fuzz/fuzz_net.c guest/net.c guest/kvstore.c \
	guest/include/net.h guest/include/kvstore.h guest/include/cmdline.h \
	include/pvft/kv.h
	$(call msg,CLANG,$@)
	$(Q)mkdir -p $(@D)
	$(Q)clang -iquote guest/include $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^)

# Host programs the test scripts drive: each tests/tools/NAME.c plus the
# shared TCP helpers (the kv tools use their HOST:PORT parsing).
TEST_TOOLS := $(BUILD)/bin/pvft-faultproxy $(BUILD)/bin/pvft-echoserver \
	$(BUILD)/bin/pvft-kv-client $(BUILD)/bin/pvft-kv-fake
all: $(TEST_TOOLS)
$(TEST_TOOLS): $(BUILD)/bin/pvft-%: $(BUILD)/tests/tools/%.o \
	$(BUILD)/tests/tools/tcp.o
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -o $@ $^

# The user-facing targets install dependencies first, then build.
demo: deps
	$(Q)$(MAKE) all
	$(Q)scripts/demo.sh $(BUILD)

check: deps
	$(Q)$(MAKE) all
	$(Q)tests/run-all.sh $(BUILD)

# The live pair's failover, many times over (make check kills 20 primaries).
PAIR_TRIALS ?= 300
soak: deps
	$(Q)$(MAKE) all
	$(Q)PAIR_TRIALS=$(PAIR_TRIALS) tests/pair/run.sh $(BUILD)

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

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
