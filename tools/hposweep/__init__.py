"""hpo-sweep as a package: cli (the command line), grid, run, report, stats, refresh, status; runs is the run-directory reader that hpo-plot shares."""
