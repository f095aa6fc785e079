/* frameq: a FIFO of broker frames the client received while waiting for
 * something else (deliveries not yet returned, receipts of pipelined
 * submits). The queue is a head and a tail pointer the caller keeps, both
 * NULL when empty; the queue owns the frames in it. */
#ifndef FRAMEQ_H
#define FRAMEQ_H

#include "remiss.pb-c.h"

typedef struct frameq_item frameq_item_t;

/* Appends f and takes it; out of memory, f is freed (dropped). */
void frameq_push(frameq_item_t **head, frameq_item_t **tail, Remiss__BrokerFrame *f);

/* Takes the oldest frame out (the caller frees it), NULL when empty. */
Remiss__BrokerFrame *frameq_pop(frameq_item_t **head, frameq_item_t **tail);

/* Frees every frame from head on. */
void frameq_free(frameq_item_t *head);

#endif
