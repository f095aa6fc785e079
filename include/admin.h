/* admin: carries out what remissctl queued in the store's admin table
 * (today: requeue a dead letter), inside the broker's cycle transaction so
 * that the action and its audit entry commit together. The requester
 * waits for the result written back with store_admin_done. */
#ifndef ADMIN_H
#define ADMIN_H

#include <stdint.h>

#include "broker_env.h"
#include "delivery.h"

/* Carries out up to a batch of pending requests; a requeued message's
 * recipient is marked dirty in delivery. now (ms) stamps the results. */
void admin_run(broker_env_t *env, delivery_t *delivery, int64_t now);

#endif
