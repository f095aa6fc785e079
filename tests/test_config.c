/* config: remissd's command line (getopt_long) and its INI file. Every
 * option takes "--opt value" and "--opt=value"; a bad number, an unknown
 * option or an operand is a usage error; a boolean takes a yes/no word or
 * nothing; the command line overrides the file whatever the order. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/* Parses the NULL-terminated words after "remissd" into *cfg (defaults
 * first); returns the code, err filled. */
static remiss_code_t
s_parse(broker_config_t *cfg, bool *help, remiss_err_t *err, ...)
{
    char *argv[32] = {"remissd"};
    int argc = 1;
    va_list ap;
    va_start(ap, err);
    for (char *w; argc < 31 && (w = va_arg(ap, char *)) != NULL;)
        argv[argc++] = w;
    va_end(ap);
    argv[argc] = NULL;
    config_defaults(cfg);
    return config_parse_args(cfg, argc, argv, help, err);
}

Test(config, both_forms_of_a_value_work)
{
    broker_config_t cfg;
    remiss_err_t err;
    bool help;
    cr_assert_eq(s_parse(&cfg, &help, &err, "--rate", "5", "--pki=/srv/pki", NULL), REMISS_OK,
                 "%s", err.text);
    cr_expect_eq(cfg.rate_per_s, 5);
    cr_expect_str_eq(cfg.pki, "/srv/pki");
    cr_assert_eq(s_parse(&cfg, &help, &err, "--rate=7", "--pki", "/x", NULL), REMISS_OK);
    cr_expect_eq(cfg.rate_per_s, 7);
    cr_expect_str_eq(cfg.pki, "/x");
}

Test(config, a_bad_number_an_unknown_option_or_an_operand_is_a_usage_error)
{
    broker_config_t cfg;
    remiss_err_t err;
    bool help;
    cr_expect_eq(s_parse(&cfg, &help, &err, "--rate", "abc", NULL), REMISS_E_USAGE);
    cr_expect(strstr(err.text, "rate must be a whole number"), "%s", err.text);
    cr_expect_eq(s_parse(&cfg, &help, &err, "--rate=12x", NULL), REMISS_E_USAGE);
    cr_expect_eq(s_parse(&cfg, &help, &err, "--window", "0", NULL), REMISS_E_USAGE);
    cr_expect_eq(s_parse(&cfg, &help, &err, "--bogus", NULL), REMISS_E_USAGE);
    cr_expect(strstr(err.text, "--bogus"), "%s", err.text);
    cr_expect_eq(s_parse(&cfg, &help, &err, "--pki", "/x", "extra", NULL), REMISS_E_USAGE);
    cr_expect(strstr(err.text, "extra"), "%s", err.text);
    cr_expect_eq(s_parse(&cfg, &help, &err, "--pki", NULL), REMISS_E_USAGE);
    cr_expect(strstr(err.text, "needs a value"), "%s", err.text);
}

Test(config, a_boolean_takes_a_word_or_nothing)
{
    broker_config_t cfg;
    remiss_err_t err;
    bool help;
    cr_assert_eq(s_parse(&cfg, &help, &err, "--audit", "no", NULL), REMISS_OK, "%s", err.text);
    cr_expect_not(cfg.audit);
    cr_assert_eq(s_parse(&cfg, &help, &err, "--audit=off", "--verbose", NULL), REMISS_OK);
    cr_expect_not(cfg.audit);
    cr_expect(cfg.verbose);
    cr_assert_eq(s_parse(&cfg, &help, &err, "--verbose", "--rate", "1", NULL), REMISS_OK);
    cr_expect(cfg.verbose);
    cr_expect_eq(s_parse(&cfg, &help, &err, "--audit=maybe", NULL), REMISS_E_USAGE);
}

Test(config, the_command_line_overrides_the_file_in_any_order)
{
    char path[] = "/tmp/remiss-config-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char text[] = "[remissd]\nrate = 3\nwindow = 9\n";
    cr_assert_eq(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    broker_config_t cfg;
    remiss_err_t err;
    bool help;
    cr_assert_eq(s_parse(&cfg, &help, &err, "--rate", "4", "--config", path, NULL), REMISS_OK,
                 "%s", err.text);
    cr_expect_eq(cfg.rate_per_s, 4);
    cr_expect_eq(cfg.window, 9);
    unlink(path);
    cr_expect_eq(s_parse(&cfg, &help, &err, "--config", "/nonexistent/remissd.conf", NULL),
                 REMISS_E_CONFIG);
}

Test(config, help_is_recognised_anywhere)
{
    broker_config_t cfg;
    remiss_err_t err;
    bool help;
    cr_assert_eq(s_parse(&cfg, &help, &err, "--rate", "1", "--help", NULL), REMISS_OK);
    cr_expect(help);
}
