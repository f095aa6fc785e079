/* category: the data categories of DESIGN.md.
 *
 * A category is present in a message when its block is present and not
 * empty; the broker derives the set from the fields actually filled, never
 * from what a sender declares. */
#ifndef CATEGORY_H
#define CATEGORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msgtype.h" /* message type names, used with categories */
#include "remiss.pb-c.h"

typedef enum category {
    CAT_IDENTITY = 0,
    CAT_CONTACT,
    CAT_EDUCATION,
    CAT_EMPLOYMENT,
    CAT_SOCIAL,
    CAT_HEALTH,
    CAT_CRIMINAL,
    CAT_FREE_TEXT,
    CAT_COUNT
} category_t;

/* A set of categories: bit (1u << category). */
typedef uint32_t catset_t;
#define CATSET_ALL ((catset_t)((1u << CAT_COUNT) - 1))

/* "identity", "contact", ...; NULL outside the enum. Static string. */
const char *category_name(category_t cat);

/* Parses one category name; false if unknown. */
bool category_parse(const char *name, category_t *out);

/* The categories an envelope carries: identity when it has a subject,
 * contact when subject.contact is not empty, each block when not empty,
 * free_text when free_text is not empty. */
catset_t category_of_envelope(const Remiss__Envelope *env);

/* Writes the set as "identity,contact,social" into buf (always
 * NUL-terminated when size > 0). Returns the length it needed. */
size_t category_format(catset_t set, char *buf, size_t size);

#endif
