/* frameq: broker frames kept for later (include/frameq.h). */
#include "frameq.h"

#include <stdlib.h>

struct frameq_item {
    struct frameq_item *next;
    Remiss__BrokerFrame *f;
};

void
frameq_free(frameq_item_t *f)
{
    while (f) {
        frameq_item_t *next = f->next;
        remiss__broker_frame__free_unpacked(f->f, NULL);
        free(f);
        f = next;
    }
}

void
frameq_push(frameq_item_t **head, frameq_item_t **tail, Remiss__BrokerFrame *f)
{
    frameq_item_t *n = calloc(1, sizeof *n);
    if (!n) {
        remiss__broker_frame__free_unpacked(f, NULL);
        return;
    }
    n->f = f;
    if (*tail)
        (*tail)->next = n;
    else
        *head = n;
    *tail = n;
}

Remiss__BrokerFrame *
frameq_pop(frameq_item_t **head, frameq_item_t **tail)
{
    frameq_item_t *n = *head;
    if (!n)
        return NULL;
    *head = n->next;
    if (!*head)
        *tail = NULL;
    Remiss__BrokerFrame *f = n->f;
    free(n);
    return f;
}
