# Benchmark: remiss beside Mosquitto and RabbitMQ (bench/README.md).
# Included from the top-level Makefile, so LIB_OBJ, CFLAGS, LDLIBS and the
# $(O)/%.o rule are in scope. `make bench` runs everything (bench/run.sh);
# `make bench QUICK=1` is the one-minute version for development.

include bench/peers.mk

# A sanitizer build (SAN=1) links into build/san/bench, so it never passes
# for the release binary that run.sh uses.
BENCH_OUT  := $(if $(filter 1,$(SAN)),$(O)/bench,build/bench)
BENCH_BINS := $(BENCH_OUT)/remiss_bench $(PEERS_OUT)/mqtt_bench $(PEERS_OUT)/amqp_bench \
              $(PEERS_OUT)/nats_bench $(BENCH_OUT)/growth_fixture \
              $(BENCH_OUT)/crypto_bench $(BENCH_OUT)/gateway_bench

.PHONY: bench bench-bins bench-remiss
# run.sh builds (release), installs what the peers need and runs all four
# configurations; it calls make itself, so no prerequisites here.
bench:
	+@QUICK=$(QUICK) bench/run.sh

# What needs no peer's library: `make test` builds these, so a change that
# breaks `make bench` fails CI instead of the next person to measure.
bench-remiss: $(BENCH_OUT)/remiss_bench $(BENCH_OUT)/growth_fixture $(BENCH_OUT)/crypto_bench \
              $(BENCH_OUT)/gateway_bench
bench-bins: $(BENCH_BINS)

# The load generator shares options, counters and the report with the peers.
$(O)/bench/remiss_bench.o: CPPFLAGS += -I$(PEERS_DIR)

$(BENCH_OUT)/remiss_bench: $(O)/bench/remiss_bench.o $(PEERS_COMMON) $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LD    $@')
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -lpthread -o $@

# Fills a store with earlier messages for the growth rows (bench/README.md).
$(BENCH_OUT)/growth_fixture: $(O)/bench/growth_fixture.o $(LEDGER_OBJ) $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LD    $@')
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -lpthread -o $@

# One signature and one verification with the broker's key (bench/README.md).
$(BENCH_OUT)/crypto_bench: $(O)/bench/crypto_bench.o $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LD    $@')
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# HTTP in, HTTP out through two remiss-gateways (bench/README.md).
$(O)/bench/gateway_bench.o: CPPFLAGS += -I$(PEERS_DIR)

$(BENCH_OUT)/gateway_bench: $(O)/bench/gateway_bench.o $(PEERS_COMMON)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LD    $@')
	$(Q)$(CC) $(LDFLAGS) $^ -lmicrohttpd -lpthread -lm -o $@
