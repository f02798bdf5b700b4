/*
 * hpo-keygen - make a CurveZMQ key pair for hpo's sockets.
 *
 *   hpo-keygen NAME...
 *
 * For each NAME writes NAME.secret (mode 0600: the public and the secret
 * key) and NAME.public (the public key alone), and prints the public key.
 * Existing files are never overwritten. The learner takes its .secret with
 * --curve-secret and a directory of the actors' .public files with
 * --curve-allow; an actor (and hpo-status) takes its own .secret with
 * --curve-key and the learner's .public with --curve-server.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "curve.h"
#include "util.h"

#define PROG "hpo-keygen"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: " PROG " NAME...\n"
        "Write NAME.secret (0600) and NAME.public, a CurveZMQ key "
        "pair for hpo-learner,\nhpo-actor and hpo-status (--curve-secret, --curve-allow, --curve-key,\n"
        "--curve-server); up to %d names. Existing files are not overwritten.\n",
        CONFIG_ARGS_MAX_POS);
}

/* No options: the table only ends; the names are the positionals. */
static const opt_spec own[] = {{NULL, 0, 0, 0, 0, 0, NULL}};

int main(int argc, char **argv)
{
    config_args a;
    char err[512];
    int prc = config_args_table(&a, argc, argv, own, 0, CONFIG_ARGS_MAX_POS,
                                NULL, err, sizeof err);
    if (prc > 0) {
        config_args_release(&a);
        usage(stdout);
        return 0;
    }
    if (prc == 0 && a.n_pos == 0)
        snprintf(err, sizeof err, "no key name given");
    if (prc < 0 || a.n_pos == 0) {
        config_args_release(&a);
        usage_error(PROG, "%s", err);
        return 2;
    }
    int rc = 0;
    for (int i = 0; i < a.n_pos && rc == 0; i++) {
        curve_pair k;
        if (curve_generate(a.pos[i], &k, err, sizeof err)) {
            fprintf(stderr, PROG ": %s\n", err);
            rc = 1;
        } else {
            printf("%s.public %s\n", a.pos[i], k.pub);
        }
    }
    config_args_release(&a);
    return rc;
}
