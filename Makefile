# remiss: plain Makefile. `make` builds release binaries into bin/ and lib/;
# `make test` builds everything again with AddressSanitizer + UBSan under
# build/san/ and runs every test. Optional switches live in config.mk.

include config.mk

PKGS      := libzmq openssl libprotobuf-c sqlite3 libpq libcjson inih libmicrohttpd libcurl
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
# GnuTLS only for the gateway's client-certificate check (gw_tls.c).
GW_LIBS    = $(shell pkg-config --libs gnutls 2>/dev/null)

# Sources. Modules are found by wildcard so a new module needs no edit here.
LIB_SRC    := $(wildcard common/*.c) clients/libremiss.c clients/idset.c clients/certcache.c \
              clients/inbound.c clients/archive.c \
              clients/seen.c clients/nodes.c clients/frameq.c clients/client_text.c
CLI_SRC    := clients/cli.c
# The ledger: the store and the audit log, what both remissd and remissctl
# (which reads and checks them on the broker host) link.
LEDGER_SRC := broker/store.c broker/store_sqlite.c broker/store_walbuf.c broker/store_pg.c \
              broker/store_pg_msg.c \
              broker/store_pg_sql.c broker/store_pg_audit.c broker/store_sqlite_sql.c \
              broker/atrest.c broker/audit.c broker/policy.c
BROKER_SRC := $(filter-out broker/main.c $(LEDGER_SRC),$(wildcard broker/*.c))
CTL_SRC    := $(wildcard clients/ctl_*.c)
GW_SRC     := $(wildcard clients/gw_*.c)
WIT_SRC    := $(wildcard clients/wit_*.c)
TEST_SRC   := $(wildcard tests/test_*.c)
TESTLIB_SRC:= $(wildcard tests/helpers/*.c)

LIB_OBJ    := $(O)/gen/remiss.pb-c.o $(LIB_SRC:%.c=$(O)/%.o)
LEDGER_OBJ := $(LEDGER_SRC:%.c=$(O)/%.o)
BROKER_OBJ := $(BROKER_SRC:%.c=$(O)/%.o)
CTL_OBJ    := $(CTL_SRC:%.c=$(O)/%.o)
GW_OBJ     := $(GW_SRC:%.c=$(O)/%.o)
WIT_OBJ    := $(WIT_SRC:%.c=$(O)/%.o)
CLI_OBJ    := $(CLI_SRC:%.c=$(O)/%.o)
TESTLIB_OBJ:= $(TESTLIB_SRC:%.c=$(O)/%.o)
TEST_BIN   := $(TEST_SRC:tests/%.c=$(O)/tests/%)

ifeq ($(SAN),1)
BIN        := $(O)/bin
LIBDIR     := $(O)/lib
else
BIN        := bin
LIBDIR     := lib
endif
PROGS      := $(BIN)/remissd $(BIN)/remiss $(BIN)/remissctl $(BIN)/remiss-gateway $(BIN)/remiss-witness

.PHONY: all deps test check run demo bench fuzz clean install valgrind format tests openapi-lint vectors deb cluster
all: deps-quiet $(PROGS) $(LIBDIR)/libremiss.a $(LIBDIR)/libremiss.so

deps:
	@scripts/install-deps.sh
# NODEPS=1 (the Debian package build) leaves the packages to its Build-Depends.
deps-quiet:
	@$(if $(filter 1,$(NODEPS)),:,scripts/install-deps.sh)

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
$(BIN)/remissd: $(O)/broker/main.o $(BROKER_OBJ) $(LEDGER_OBJ) $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LD    $@')
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/remiss: $(O)/clients/remiss_cli.o $(CLI_OBJ) $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LD    $@')
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/remissctl: $(O)/clients/remissctl.o $(CTL_OBJ) $(CLI_OBJ) $(LEDGER_OBJ) $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LD    $@')
	$(Q)$(CC) $(LDFLAGS) $^ $(filter-out -lmicrohttpd,$(LDLIBS)) -o $@

$(BIN)/remiss-gateway: $(O)/clients/gateway.o $(GW_OBJ) $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LD    $@')
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) $(GW_LIBS) -o $@

$(BIN)/remiss-witness: $(O)/clients/witness.o $(WIT_OBJ) $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LD    $@')
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(LIBDIR)/libremiss.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Exports only the public API (config/libremiss.map); programs and tests
# link the objects themselves, so they still see everything.
$(LIBDIR)/libremiss.so: $(LIB_OBJ) config/libremiss.map
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libremiss.so.1 -Wl,--version-script=config/libremiss.map \
	    -Wl,--no-undefined $(LIB_OBJ) $(LDLIBS) -o $@

# ---------------------------------------------------------------- tests
$(O)/tests/%: $(O)/tests/%.o $(TESTLIB_OBJ) $(CTL_OBJ) $(CLI_OBJ) $(GW_OBJ) $(WIT_OBJ) $(BROKER_OBJ) $(LEDGER_OBJ) $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LD    $@')
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) $(GW_LIBS) -lcriterion -o $@

tests: $(TEST_BIN) $(O)/tests/gen_vectors

# docs/test-vectors are made once by tests/gen_vectors.c and committed
# (new keys and signatures on every run): `make vectors` remakes them.
$(O)/tests/gen_vectors: $(O)/tests/gen_vectors.o $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

vectors: deps-quiet $(O)/tests/gen_vectors
	rm -rf docs/test-vectors.new
	$(O)/tests/gen_vectors docs/test-vectors.new
	cp docs/test-vectors/README.md docs/test-vectors.new/ 2>/dev/null || true
	rm -rf docs/test-vectors && mv docs/test-vectors.new docs/test-vectors

# `make test` rebuilds with sanitizers in build/san and runs every test.
# The fuzz smoke runs first so the test totals are the closing line.
# The release configuration (what `make`, `make run` and `make bench` build)
# is built first with the same -Werror: a release build that fails must fail CI;
# `make demo` (test_demo) and `make run` (test_run) then run on those release
# binaries before the whole suite runs on the sanitizer build.
test: deps
	@$(MAKE) --no-print-directory SAN=0 all bench-remiss
	@$(MAKE) --no-print-directory openapi-lint
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(MAKE) --no-print-directory SAN=1 all tests
	@echo "make demo and make run on the release binaries (bin/):"
	@REMISS_BIN=bin scripts/run-tests.sh build/san/tests/test_demo build/san/tests/test_run
	@$(MAKE) --no-print-directory SAN=1 check

# docs/openapi.yaml, linted by Redocly's CLI (tools/package.json, installed by deps).
openapi-lint:
	@REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
	    tools/node_modules/.bin/redocly lint --format=stylish docs/openapi.yaml

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

# A local PostgreSQL and two nodes on it (issue 15); Ctrl-C stops them.
cluster: deps all
	@scripts/cluster.sh

# make install PREFIX=/usr DESTDIR=/tmp/stage: binaries, library, headers,
# pkg-config file, man pages, example config and policy, systemd unit.
PREFIX ?= /usr/local
install: all
	@PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) scripts/install.sh

# make deb: the Debian packages remiss, libremiss1 and libremiss-dev, built
# by dpkg-buildpackage in a copy of the tree, into build/deb/.
deb: deps
	@scripts/build-deb.sh build/deb

clean:
	rm -rf build bin lib run

format:
	clang-format -i $(wildcard include/*.h common/*.c broker/*.c clients/*.c tests/*.c tests/helpers/*.[ch] bench/*.c)

-include $(shell find build -name '*.d' 2>/dev/null)
-include $(wildcard bench/bench.mk tests/fuzz/fuzz.mk)
