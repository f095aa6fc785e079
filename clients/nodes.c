/* nodes: the broker nodes of a client and its unanswered requests
 * (include/nodes.h). */
#include "nodes.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t request_id;
    uint8_t *frame; /* packed ClientFrame */
    size_t len;
    uint64_t moves; /* nodes.moves when it was last sent */
} s_req_t;

struct nodes {
    char ep[NODES_MAX][NODES_EP_MAX]; /* the endpoints */
    size_t n, cur;                    /* how many; the one in use */
    uint64_t moves;                   /* times nodes_next moved on */
    s_req_t *req;                     /* unanswered, oldest first */
    size_t nreq, capreq;
};

/* Appends the endpoint p[0..len); false with err if it is not one. */
static bool
s_add(nodes_t *self, const char *p, size_t len, remiss_err_t *err)
{
    if (self->n == NODES_MAX || len >= NODES_EP_MAX) {
        remiss_err_set(err, REMISS_E_USAGE, "at most %d broker endpoints of %d characters",
                       NODES_MAX, NODES_EP_MAX - 1);
        return false;
    }
    memcpy(self->ep[self->n], p, len);
    self->ep[self->n][len] = '\0';
    if (!strstr(self->ep[self->n], "://")) {
        remiss_err_set(err, REMISS_E_USAGE,
                       "the broker endpoint names its transport: write tcp://%.180s",
                       self->ep[self->n]);
        return false;
    }
    self->n++;
    return true;
}

nodes_t *
nodes_parse(const char *list, remiss_err_t *err)
{
    nodes_t *self = calloc(1, sizeof *self);
    bool ok = self != NULL;
    if (!self)
        remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
    const char *p = list ? list : "";
    do {
        size_t len = strcspn(p, ",");
        ok = s_add(self, p, len, err);
        p += len;
    } while (ok && *p++ == ',');
    if (!ok)
        nodes_free(&self);
    return self;
}

void
nodes_free(nodes_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    nodes_t *self = *self_p;
    for (size_t i = 0; i < self->nreq; i++)
        free(self->req[i].frame);
    free(self->req);
    free(self);
    *self_p = NULL;
}

size_t
nodes_count(const nodes_t *self)
{
    return self->n;
}

const char *
nodes_current(const nodes_t *self)
{
    return self->ep[self->cur];
}

const char *
nodes_next(nodes_t *self)
{
    self->cur = (self->cur + 1) % self->n;
    self->moves++;
    return self->ep[self->cur];
}

bool
nodes_track(nodes_t *self, uint64_t request_id, const uint8_t *frame, size_t len)
{
    if (self->nreq == NODES_PENDING)
        return false;
    if (self->nreq == self->capreq) {
        size_t cap = self->capreq ? self->capreq * 2 : 16;
        s_req_t *grown = realloc(self->req, cap * sizeof *grown);
        if (!grown)
            return false;
        self->req = grown;
        self->capreq = cap;
    }
    s_req_t *r = &self->req[self->nreq];
    if (!(r->frame = malloc(len ? len : 1)))
        return false;
    memcpy(r->frame, frame, len);
    r->len = len;
    r->request_id = request_id;
    r->moves = self->moves;
    self->nreq++;
    return true;
}

bool
nodes_answered(nodes_t *self, uint64_t request_id)
{
    for (size_t i = 0; i < self->nreq; i++)
        if (self->req[i].request_id == request_id) {
            free(self->req[i].frame);
            memmove(&self->req[i], &self->req[i + 1], (self->nreq - i - 1) * sizeof *self->req);
            self->nreq--;
            return true;
        }
    return false;
}

size_t
nodes_pending(const nodes_t *self)
{
    return self->nreq;
}

const uint8_t *
nodes_unsent(const nodes_t *self, size_t *len, uint64_t *request_id)
{
    for (size_t i = 0; i < self->nreq; i++)
        if (self->req[i].moves != self->moves) {
            *len = self->req[i].len;
            *request_id = self->req[i].request_id;
            return self->req[i].frame;
        }
    return NULL;
}

void
nodes_sent(nodes_t *self, uint64_t request_id)
{
    for (size_t i = 0; i < self->nreq; i++)
        if (self->req[i].request_id == request_id)
            self->req[i].moves = self->moves;
}
