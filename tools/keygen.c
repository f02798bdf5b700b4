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

#include "curve.h"

#define PROG "hpo-keygen"

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "usage: " PROG " NAME...\n"
                   "Write NAME.secret (0600) and NAME.public, a CurveZMQ key "
                   "pair for hpo-learner,\nhpo-actor and hpo-status "
                   "(--curve-secret, --curve-allow, --curve-key,\n"
                   "--curve-server). Existing files are not overwritten.\n");
        return argc < 2 ? 2 : 0;
    }
    for (int i = 1; i < argc; i++) {
        char err[512];
        curve_pair k;
        if (argv[i][0] == '-' || curve_generate(argv[i], &k, err, sizeof err)) {
            fprintf(stderr, PROG ": %s\n",
                    argv[i][0] == '-' ? "unknown flag (see --help)" : err);
            return 1;
        }
        printf("%s.public %s\n", argv[i], k.pub);
    }
    return 0;
}
