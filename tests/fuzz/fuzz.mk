# tests/fuzz/fuzz.mk: libFuzzer targets, included by the top-level Makefile.
#
#   make fuzz-build              build every target into build/fuzz/
#   make fuzz [FUZZ_TIME=60]     run each target FUZZ_TIME seconds, one after the other;
#                                fails on any crash, leak, timeout or broken invariant
#   make fuzz-smoke              the same, 10 s each (for make test)
#   make fuzz-one T=envelope     run one target (FUZZ_TIME seconds)
#   make fuzz-corpus             rewrite the seed corpus tests/fuzz/corpus/ from
#                                docs/examples and config/stockholm.policy
#
# Crash, leak and timeout inputs are kept as build/fuzz/crashes/TARGET-*;
# replay one with build/fuzz/fuzz_TARGET FILE. Inputs found to add coverage
# go to build/fuzz/corpus/TARGET, so later runs start from there; the seeds
# in tests/fuzz/corpus/TARGET are read, never written.
#
# Everything is compiled again with clang into build/fuzz/ (gcc objects of
# build/rel and build/san have no coverage instrumentation).

FUZZ_CC       ?= clang
FUZZ_TIME     ?= 60
FUZZ_SMOKE    ?= 10
FUZZ_O        := build/fuzz
FUZZ_TARGETS  := envelope bodies policy pnr consent msgjson client gateway letter note witness text \
                 evidence status atrest
FUZZ_SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                 -fno-omit-frame-pointer
FUZZ_CFLAGS   := -std=c11 -O1 -g $(FUZZ_SANFLAGS) -fsanitize=fuzzer-no-link -MMD -MP \
                 -DFUZZ_SRCDIR='"$(CURDIR)"'
FUZZ_CPPFLAGS  = $(CPPFLAGS) -Itests/fuzz $(PKG_CFLAGS)

# The sources the Makefile builds the broker and the library from.
FUZZ_LIB_SRC  := $(wildcard common/*.c) $(filter-out broker/main.c,$(wildcard broker/*.c)) \
                 clients/libremiss.c clients/idset.c clients/certcache.c clients/seen.c \
                 clients/nodes.c clients/frameq.c clients/client_text.c clients/inbound.c \
                 clients/archive.c clients/cli.c \
                 clients/gw_router.c clients/ctl_letter.c clients/ctl_status.c $(wildcard clients/wit_*.c)
FUZZ_LIB_OBJ  := $(FUZZ_O)/obj/gen/remiss.pb-c.o $(FUZZ_LIB_SRC:%.c=$(FUZZ_O)/obj/%.o)
FUZZ_LIB      := $(FUZZ_O)/libremiss-fuzz.a
FUZZ_COMMON   := $(FUZZ_O)/obj/tests/fuzz/fuzz_common.o
FUZZ_BINS     := $(FUZZ_TARGETS:%=$(FUZZ_O)/fuzz_%)

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-one fuzz-corpus
# Keep the targets' objects: make would delete them as intermediate files.
.SECONDARY: $(FUZZ_TARGETS:%=$(FUZZ_O)/obj/tests/fuzz/fuzz_%.o) $(FUZZ_O)/obj/tests/fuzz/mkcorpus.o

fuzz-build: $(FUZZ_BINS)

$(FUZZ_O)/obj/gen/remiss.pb-c.o: $(GEN)/remiss.pb-c.c
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CPPFLAGS) -std=c11 -O1 -g $(FUZZ_SANFLAGS) \
	    -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_O)/obj/%.o: %.c $(GEN)/remiss.pb-c.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  FUZZCC $<')
	$(Q)$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) $(WARN) -c $< -o $@

$(FUZZ_LIB): $(FUZZ_LIB_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(FUZZ_O)/fuzz_%: $(FUZZ_O)/obj/tests/fuzz/fuzz_%.o $(FUZZ_COMMON) $(FUZZ_LIB)
	@$(if $(Q),echo '  FUZZLD $@')
	$(Q)$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SANFLAGS) $^ $(LDLIBS) -o $@

$(FUZZ_O)/mkcorpus: $(FUZZ_O)/obj/tests/fuzz/mkcorpus.o $(FUZZ_COMMON) $(FUZZ_LIB)
	$(Q)$(FUZZ_CC) $(FUZZ_SANFLAGS) $^ $(LDLIBS) -o $@

fuzz-corpus: $(FUZZ_O)/mkcorpus
	rm -rf tests/fuzz/corpus
	mkdir -p tests/fuzz/corpus
	$(FUZZ_O)/mkcorpus tests/fuzz/corpus

# Runs every target for $(1) seconds, one at a time (so the time is the
# same on any machine), and fails at the end if any failed.
define fuzz_run_all
	@fail=""; for t in $(FUZZ_TARGETS); do \
	    tests/fuzz/run.sh $$t $(1) || fail="$$fail $$t"; \
	done; \
	if [ -n "$$fail" ]; then echo "fuzz: FAILED:$$fail (inputs in $(FUZZ_O)/crashes/)"; exit 1; fi; \
	echo "fuzz: all $(words $(FUZZ_TARGETS)) targets ok"
endef

fuzz: fuzz-build
	$(call fuzz_run_all,$(FUZZ_TIME))

fuzz-smoke: fuzz-build
	$(call fuzz_run_all,$(FUZZ_SMOKE))

fuzz-one: $(FUZZ_O)/fuzz_$(T)
	@tests/fuzz/run.sh $(T) $(FUZZ_TIME)
