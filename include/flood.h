/* flood: bounds on what one party can make the broker do and record.
 *
 * - Frames: a token bucket per party checked before a frame is decoded
 *   (FLOOD_FRAME_FACTOR times --rate, burst FLOOD_FRAME_FACTOR times
 *   --rate-burst; off with --rate 0). Acknowledgements, status and proof
 *   queries count too, hence the factor.
 * - The permanent log: of one party's refusals in an interval of
 *   FLOOD_INTERVAL_MS, the first FLOOD_INDIVIDUAL get an audit entry each;
 *   the rest are counted and recorded as one aggregated entry (count and
 *   codes) when the interval ends. One party adds at most
 *   FLOOD_INDIVIDUAL + 1 refusal entries per interval to the log.
 * - Connections: one party holds at most --max-party-connections of the
 *   --max-connections receiving connections.
 * The broker owns one flood_t; the functions are cheap (a linear scan of
 * the parties seen, which the registry bounds). */
#ifndef FLOOD_H
#define FLOOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remiss_code.h"

#define FLOOD_FRAME_FACTOR 4
#define FLOOD_INTERVAL_MS  10000
#define FLOOD_INDIVIDUAL   20

typedef struct flood flood_t;

/* rate_per_s 0 turns the frame check off. NULL on out of memory. */
flood_t *flood_new(int64_t rate_per_s, int64_t burst);
void flood_free(flood_t **self_p);

/* True if party may have one more frame decoded now. */
bool flood_frame_ok(flood_t *self, const char *party, int64_t now_ms);

/* A refusal of party with code at now: true if it gets an audit entry of
 * its own, false if it was counted for the aggregated entry. */
bool flood_refusal_individual(flood_t *self, const char *party, remiss_code_t code, int64_t now_ms);

/* One aggregated entry due: party, how many refusals, and a detail
 * "aggregated N refusals in S s: CODE=n,..." (closed vocabulary). */
typedef void (*flood_emit_fn)(void *ctx, const char *party, uint64_t count, const char *detail);

/* Ends the intervals that are over at now, emitting one entry per party
 * with refusals counted in them. */
void flood_flush(flood_t *self, int64_t now_ms, flood_emit_fn emit, void *ctx);

#endif
