# remiss: plain Makefile. `make` builds release binaries into bin/ and lib/;
# `make test` builds everything again with AddressSanitizer + UBSan under
# build/san/ and runs every test. Optional switches live in config.mk.

include config.mk

PKGS      := libzmq openssl libprotobuf-c sqlite3 libpq libcjson inih libmicrohttpd
SAN       ?= 0
ifeq ($(SAN),1)
O         := build/san
SANFLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT       := -O1 -g
else
O         := build/rel
SANFLAGS  :=
OPT       := -O2 -g
endif

GEN       := build/gen
CC        ?= cc
WARN      := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
             -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS  := -Iinclude -I$(GEN) -Itests/helpers -D_GNU_SOURCE $(CONFIG_DEFS)
V ?= 0
ifeq ($(V),0)
Q := @
else
Q :=
endif
CFLAGS    := -std=c11 $(OPT) $(WARN) -fPIC -MMD -MP $(SANFLAGS) $(EXTRA_CFLAGS)
LDFLAGS   := $(SANFLAGS) $(EXTRA_LDFLAGS)
LDLIBS     = $(PKG_LIBS) -lpthread -lm

# Sources. Modules are found by wildcard so a new module needs no edit here.
LIB_SRC    := $(wildcard common/*.c) clients/libremiss.c
BROKER_SRC := $(filter-out broker/main.c,$(wildcard broker/*.c))
CTL_SRC    := $(wildcard clients/ctl_*.c)
TEST_SRC   := $(wildcard tests/test_*.c)
TESTLIB_SRC:= $(wildcard tests/helpers/*.c)

LIB_OBJ    := $(O)/gen/remiss.pb-c.o $(LIB_SRC:%.c=$(O)/%.o)
BROKER_OBJ := $(BROKER_SRC:%.c=$(O)/%.o)
CTL_OBJ    := $(CTL_SRC:%.c=$(O)/%.o)
TESTLIB_OBJ:= $(TESTLIB_SRC:%.c=$(O)/%.o)
TEST_BIN   := $(TEST_SRC:tests/%.c=$(O)/tests/%)

ifeq ($(SAN),1)
BIN        := $(O)/bin
LIBDIR     := $(O)/lib
else
BIN        := bin
LIBDIR     := lib
endif
PROGS      := $(BIN)/remissd $(BIN)/remiss $(BIN)/remissctl

.PHONY: all deps test check run demo bench fuzz clean install valgrind format tests
all: deps-quiet $(PROGS) $(LIBDIR)/libremiss.a $(LIBDIR)/libremiss.so

deps:
	@scripts/install-deps.sh
deps-quiet:
	@scripts/install-deps.sh

# ---------------------------------------------------------------- codegen
$(GEN)/remiss.pb-c.c $(GEN)/remiss.pb-c.h: proto/remiss.proto | deps-quiet
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -Iproto proto/remiss.proto

# Generated code is compiled without -Werror: its warnings are not ours.
$(O)/gen/remiss.pb-c.o: $(GEN)/remiss.pb-c.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=c11 $(OPT) -fPIC $(SANFLAGS) $(CPPFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(O)/%.o: %.c $(GEN)/remiss.pb-c.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  CC    $<')
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -c $< -o $@

# ---------------------------------------------------------------- programs
$(BIN)/remissd: $(O)/broker/main.o $(BROKER_OBJ) $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LD    $@')
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/remiss: $(O)/clients/remiss_cli.o $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LD    $@')
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/remissctl: $(O)/clients/remissctl.o $(CTL_OBJ) $(BROKER_OBJ) $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LD    $@')
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(LIBDIR)/libremiss.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBDIR)/libremiss.so: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libremiss.so.1 $^ $(LDLIBS) -o $@

# ---------------------------------------------------------------- tests
$(O)/tests/%: $(O)/tests/%.o $(TESTLIB_OBJ) $(CTL_OBJ) $(BROKER_OBJ) $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LD    $@')
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcriterion -o $@

tests: $(TEST_BIN)

# `make test` rebuilds with sanitizers in build/san and runs every test.
# The fuzz smoke runs first so the test totals are the closing line.
# The release configuration (what `make`, `make run` and `make bench` build)
# is built first with the same -Werror: a release build that fails must fail CI.
test: deps
	@$(MAKE) --no-print-directory SAN=0 all
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(MAKE) --no-print-directory SAN=1 all tests
	@$(MAKE) --no-print-directory SAN=1 check

check:
	@REMISS_BIN=$(BIN) scripts/run-tests.sh $(TEST_BIN)

# The test suite on release builds under valgrind memcheck, following every
# process (Criterion's workers and each remissd a test starts). Slow.
valgrind: deps
	@$(MAKE) --no-print-directory SAN=0 all tests
	@REMISS_BIN=bin VALGRIND=1 scripts/run-tests.sh $(if $(TESTS),$(TESTS),$(TEST_SRC:tests/%.c=build/rel/tests/%))

# ---------------------------------------------------------------- running
run: deps all
	@scripts/run.sh

demo: deps all
	@scripts/demo.sh

# make install PREFIX=/usr DESTDIR=/tmp/stage: binaries, library, headers,
# pkg-config file, man pages, example config and policy, systemd unit.
PREFIX ?= /usr/local
install: all
	@PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) scripts/install.sh

clean:
	rm -rf build bin lib run

format:
	clang-format -i $(wildcard include/*.h common/*.c broker/*.c clients/*.c tests/*.c tests/helpers/*.[ch] bench/*.c)

-include $(shell find build -name '*.d' 2>/dev/null)
-include $(wildcard bench/bench.mk tests/fuzz/fuzz.mk)
