/* idset: see idset.h. A set of 16-byte ids (open addressing, linear
 * probing, tombstones on delete). */
#include "idset.h"

#include <stdlib.h>
#include <string.h>

struct idset {
    uint8_t (*slots)[IDSET_ID_LEN]; /* the ids */
    uint8_t *used;                  /* 0 empty, 1 used, 2 deleted */
    size_t cap, count;              /* slots (a power of two), ids held */
};

static size_t
s_hash(const uint8_t *id, size_t cap)
{
    uint64_t h;
    memcpy(&h, id, sizeof h); /* ids are random: their bytes are the hash */
    return (size_t)(h & (cap - 1));
}

bool
idset_has(const idset_t *s, const uint8_t *id)
{
    if (!s->cap)
        return false;
    for (size_t i = s_hash(id, s->cap);; i = (i + 1) & (s->cap - 1)) {
        if (!s->used[i])
            return false;
        if (s->used[i] == 1 && memcmp(s->slots[i], id, IDSET_ID_LEN) == 0)
            return true;
    }
}

static bool
s_grow(idset_t *s)
{
    idset_t bigger = {0};
    bigger.cap = s->cap ? s->cap * 2 : 256;
    bigger.slots = calloc(bigger.cap, IDSET_ID_LEN);
    bigger.used = calloc(bigger.cap, 1);
    if (!bigger.slots || !bigger.used) {
        free(bigger.slots);
        free(bigger.used);
        return false;
    }
    for (size_t i = 0; i < s->cap; i++)
        if (s->used[i] == 1)
            idset_add(&bigger, s->slots[i]);
    free(s->slots);
    free(s->used);
    *s = bigger;
    return true;
}

bool
idset_add(idset_t *s, const uint8_t *id)
{
    if (idset_has(s, id))
        return true;
    if ((s->count + 1) * 2 > s->cap && !s_grow(s))
        return false;
    size_t i = s_hash(id, s->cap);
    while (s->used[i] == 1)
        i = (i + 1) & (s->cap - 1);
    memcpy(s->slots[i], id, IDSET_ID_LEN);
    s->used[i] = 1;
    s->count++;
    return true;
}

void
idset_del(idset_t *s, const uint8_t *id)
{
    if (!s->cap)
        return;
    for (size_t i = s_hash(id, s->cap);; i = (i + 1) & (s->cap - 1)) {
        if (!s->used[i])
            return;
        if (s->used[i] == 1 && memcmp(s->slots[i], id, IDSET_ID_LEN) == 0) {
            s->used[i] = 2; /* tombstone keeps probe chains intact */
            return;
        }
    }
}

idset_t *
idset_new(void)
{
    return calloc(1, sizeof(idset_t));
}

void
idset_free(idset_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->slots);
    free((*self_p)->used);
    free(*self_p);
    *self_p = NULL;
}

size_t
idset_count(const idset_t *s)
{
    return s->count;
}
