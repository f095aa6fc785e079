/* nodes: the endpoint list of a client and its unanswered requests. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "nodes.h"

Test(nodes, one_endpoint_or_a_list)
{
    remiss_err_t err;
    nodes_t *n = nodes_parse("tcp://127.0.0.1:7400", &err);
    cr_assert_not_null(n);
    cr_assert_eq(nodes_count(n), 1);
    cr_assert_str_eq(nodes_next(n), "tcp://127.0.0.1:7400");
    nodes_free(&n);
    cr_assert_null(n);
    n = nodes_parse("tcp://a:7400,tcp://b:7400,ipc:///tmp/c", &err);
    cr_assert_not_null(n);
    cr_assert_eq(nodes_count(n), 3);
    cr_assert_str_eq(nodes_current(n), "tcp://a:7400");
    cr_assert_str_eq(nodes_next(n), "tcp://b:7400");
    cr_assert_str_eq(nodes_next(n), "ipc:///tmp/c");
    cr_assert_str_eq(nodes_next(n), "tcp://a:7400");
    nodes_free(&n);
}

Test(nodes, bad_lists_are_refused)
{
    static const char *const bad[] = {"",
                                      "127.0.0.1:7400",
                                      "tcp://a:7400,",
                                      ",tcp://a:7400",
                                      "tcp://a:7400,,tcp://b:7400",
                                      "tcp://a:7400,b:7400",
                                      NULL};
    remiss_err_t err;
    for (size_t i = 0; bad[i]; i++) {
        memset(&err, 0, sizeof err);
        cr_assert_null(nodes_parse(bad[i], &err), "accepted \"%s\"", bad[i]);
        cr_assert_eq(err.code, REMISS_E_USAGE, "\"%s\"", bad[i]);
    }
    char many[2048] = "", one[300];
    for (int i = 0; i <= NODES_MAX; i++) {
        snprintf(one, sizeof one, "%stcp://n%d:7400", i ? "," : "", i);
        strcat(many, one);
    }
    cr_assert_null(nodes_parse(many, &err), "more than NODES_MAX endpoints");
    memset(one, 'a', sizeof one - 1);
    one[sizeof one - 1] = '\0';
    memcpy(one, "tcp://", 6);
    cr_assert_null(nodes_parse(one, &err), "an endpoint of 299 characters");
    cr_assert_null(nodes_parse(NULL, &err));
}

/* What was sent to the node in use is not sent again; after a move every
 * unanswered request is, oldest first, once. */
Test(nodes, unanswered_requests_go_again_after_a_move)
{
    remiss_err_t err;
    nodes_t *n = nodes_parse("tcp://a:1,tcp://b:2", &err);
    const uint8_t f1[] = {1, 2, 3}, f2[] = {4, 5};
    size_t len;
    uint64_t id;
    cr_assert(nodes_track(n, 7, f1, sizeof f1));
    cr_assert(nodes_track(n, 8, f2, sizeof f2));
    cr_assert_eq(nodes_pending(n), 2);
    cr_assert_null(nodes_unsent(n, &len, &id));
    nodes_next(n);
    const uint8_t *f = nodes_unsent(n, &len, &id);
    cr_assert(f && id == 7 && len == sizeof f1 && memcmp(f, f1, len) == 0);
    nodes_sent(n, 7);
    f = nodes_unsent(n, &len, &id);
    cr_assert(f && id == 8 && len == sizeof f2);
    cr_assert(nodes_answered(n, 8));
    cr_assert_not(nodes_answered(n, 8), "a repeat answer is told apart");
    cr_assert_null(nodes_unsent(n, &len, &id));
    cr_assert(nodes_answered(n, 7));
    cr_assert_eq(nodes_pending(n), 0);
    nodes_free(&n);
}
