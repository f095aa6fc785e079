# Peer benchmark programs: the MQTT (Mosquitto) and AMQP (RabbitMQ) load
# generators that run beside remiss's own. Included from bench/bench.mk; every
# name here starts with PEERS_ or bench-peers so it cannot clash with the
# top-level Makefile. `make bench-peers` builds both into build/bench/.

PEERS_DIR      := bench/peers
PEERS_OUT      := build/bench
PEERS_CC       ?= $(CC)
PEERS_CFLAGS   := -std=c11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
                  -Wmissing-prototypes -Wformat=2 -D_GNU_SOURCE -pthread -MMD -MP
PEERS_COMMON   := $(PEERS_OUT)/obj/peerbench.o
PEERS_MQTT_CF  := $(shell pkg-config --cflags libmosquitto 2>/dev/null)
PEERS_MQTT_LIB := $(shell pkg-config --libs libmosquitto 2>/dev/null || echo -lmosquitto)
# librabbitmq's host check cannot match an IP address; amqp_bench has OpenSSL
# do it, so it links OpenSSL directly.
PEERS_AMQP_CF  := $(shell pkg-config --cflags librabbitmq openssl 2>/dev/null)
PEERS_AMQP_LIB := $(shell pkg-config --libs librabbitmq openssl 2>/dev/null || \
                    echo -lrabbitmq -lssl -lcrypto)
PEERS_NATS_CF  := $(shell pkg-config --cflags libnats 2>/dev/null)
PEERS_NATS_LIB := $(shell pkg-config --libs libnats 2>/dev/null || echo -lnats)

.PHONY: bench-peers bench-peers-deps bench-peers-run
bench-peers: $(PEERS_OUT)/mqtt_bench $(PEERS_OUT)/amqp_bench $(PEERS_OUT)/nats_bench

# Installs Mosquitto, RabbitMQ and their client libraries if missing.
bench-peers-deps:
	@scripts/install-deps.sh bench

# Full peer measurement (both brokers, saturation and paced, ~80 s); see
# bench/peers/README.md. Results land in build/bench/peers/peers.jsonl.
bench-peers-run: bench-peers
	$(PEERS_DIR)/run.sh $(PEERS_OUT)/peers

$(PEERS_OUT)/obj/%.o: $(PEERS_DIR)/%.c
	@mkdir -p $(dir $@)
	$(PEERS_CC) $(PEERS_CFLAGS) $(PEERS_XCF) -c $< -o $@

$(PEERS_OUT)/obj/mqtt_bench.o: PEERS_XCF := $(PEERS_MQTT_CF)
$(PEERS_OUT)/obj/amqp_bench.o: PEERS_XCF := $(PEERS_AMQP_CF)
$(PEERS_OUT)/obj/nats_bench.o: PEERS_XCF := $(PEERS_NATS_CF)

$(PEERS_OUT)/mqtt_bench: $(PEERS_OUT)/obj/mqtt_bench.o $(PEERS_COMMON)
	$(PEERS_CC) -pthread $^ $(PEERS_MQTT_LIB) -lm -o $@

$(PEERS_OUT)/amqp_bench: $(PEERS_OUT)/obj/amqp_bench.o $(PEERS_COMMON)
	$(PEERS_CC) -pthread $^ $(PEERS_AMQP_LIB) -lm -o $@

$(PEERS_OUT)/nats_bench: $(PEERS_OUT)/obj/nats_bench.o $(PEERS_COMMON)
	$(PEERS_CC) -pthread $^ $(PEERS_NATS_LIB) -lm -o $@
