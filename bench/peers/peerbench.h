/* peerbench: what the MQTT and AMQP peer benchmarks share.
 *
 * Options, the payload format (a message id and a CLOCK_MONOTONIC send time),
 * the run's shared counters and latency table, pacing, the hard wall-time
 * watchdog and the one-line JSON report. Every counter is atomic so sender,
 * receiver and network threads of either client library may touch them.
 */
#ifndef PEERBENCH_H
#define PEERBENCH_H

#include <stddef.h>
#include <stdint.h>

/* Smallest payload: 8-byte magic, 8-byte message id, 8-byte send time. */
#define PB_HEADER_SIZE 24
/* Largest payload we accept; both peers take far more, a benchmark needs less. */
#define PB_MAX_SIZE (1024 * 1024)
/* Fixed address: the peers run on loopback only. */
#define PB_HOST "127.0.0.1"

typedef struct {
    int senders;       /* S publisher connections */
    int receivers;     /* R consumer connections */
    uint64_t count;    /* N messages in all */
    size_t size;       /* payload bytes per message */
    double rate;       /* messages per second in all, 0 = as fast as possible */
    double timeout_s;  /* wall-time limit from start to the last receipt */
    const char *certs; /* directory made by pki.sh */
    int port;          /* TLS port of the peer on PB_HOST */
    int window;        /* unacknowledged publishes per sender, and prefetch */
} pb_opts_t;

typedef struct pb_run pb_run_t;

/* Parses argv into *opts. Returns 0 to run; -1 after printing help or an
 * error, with the status to exit with in *exit_code (0 after --help, else 2). */
int pb_parse_args(int argc, char **argv, const char *prog, pb_opts_t *opts, int *exit_code);

/* Paths of client certificate i (cert and key) in opts->certs; 0 or -1 when
 * they do not exist or the path does not fit. */
int pb_client_files(const pb_opts_t *opts, int i, char *crt, char *key, size_t len);

/* Path of the CA certificate in opts->certs; 0 or -1 as above. */
int pb_ca_file(const pb_opts_t *opts, char *ca, size_t len);

/* Monotonic clock in nanoseconds. */
uint64_t pb_now_ns(void);

/* Creates the run state for opts (which must outlive it) and starts the
 * watchdog that, should the program hang, prints the report itself and exits
 * 1 a few seconds after the timeout. NULL if memory runs out. */
pb_run_t *pb_run_new(const pb_opts_t *opts, const char *peer);

/* Frees the run; accepts NULL and sets *self_p to NULL. */
void pb_run_free(pb_run_t **self_p);

/* Unique tag for names (topics, queues, client ids) of this run. */
const char *pb_run_tag(const pb_run_t *self);

/* Records the first error (printf-style) and asks every thread to stop. */
void pb_run_fail(pb_run_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True once the run failed, timed out or finished. */
int pb_run_stopping(const pb_run_t *self);

/* Seconds left before the timeout (never negative). */
double pb_run_remaining_s(const pb_run_t *self);

/* Marks the start: first publish may happen now. */
void pb_run_go(pb_run_t *self);

/* Blocks until pb_run_go or stop; 0 when it is time to publish, -1 on stop. */
int pb_run_wait_go(const pb_run_t *self);

/* With --rate, sleeps until message g is due; returns -1 if stopped meanwhile. */
int pb_run_pace(const pb_run_t *self, uint64_t g);

/* Number of messages receiver r should get (ids g with g % R == r). */
uint64_t pb_run_expected(const pb_run_t *self, int r);

/* Writes the payload of message g into buf (opts->size bytes) with the send
 * time now; returns that time. Call just before handing buf to the library. */
uint64_t pb_payload_stamp(uint8_t *buf, size_t size, uint64_t g);

/* Counts n messages the broker acknowledged (PUBACK / publisher confirm). */
void pb_run_sent(pb_run_t *self, uint64_t n);

/* Records a receipt at time t_ns. Returns 1 for a first receipt, 0 for a
 * duplicate, -1 for a payload that is not ours (counted as an error). */
int pb_run_record(pb_run_t *self, const void *payload, size_t len, uint64_t t_ns);

/* As pb_run_record for a load generator that carries the message id g and the
 * send time t0_ns in its own payload format and has decoded them. */
int pb_run_record_stamp(pb_run_t *self, uint64_t g, uint64_t t0_ns, uint64_t t_ns);

/* Counts message g as acknowledged by the broker, for load generators that
 * know which message a receipt is for (instead of pb_run_sent). Once used,
 * the report counts a message only if it was both confirmed and received:
 * msgs_per_s and the percentiles cover those, and "unconfirmed" says how many
 * arrived without a confirmation. Returns 1 the first time, 0 for a repeated
 * confirmation, -1 for an id out of range. */
int pb_run_confirm(pb_run_t *self, uint64_t g);

/* Declares up front that confirmations will come per id, so that the report
 * has the same keys even when none arrived. */
void pb_run_confirm_by_id(pb_run_t *self);

/* Monotonic time message g is due with --rate (see pb_run_pace), 0 at
 * saturation; valid after pb_run_go. */
uint64_t pb_run_due_ns(const pb_run_t *self, uint64_t g);

/* Blocks until every message was acknowledged and received, the run failed,
 * or the timeout passed (then records the timeout as the error). */
void pb_run_wait_done(pb_run_t *self);

/* Prints the one JSON line on stdout (and "error: ..." on stderr when the run
 * is incomplete) once per run. Returns the exit status, 0 complete and 1 not,
 * or -1 if the report had already been printed. */
int pb_run_report(pb_run_t *self);

#endif
