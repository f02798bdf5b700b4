# deploy/lib.sh - what the deploy scripts share; sourced, never run.
# Source it before the script changes into the checkout: it records the
# directory the user called from (deploy/run passes its caller's on to
# deploy/local through HPO_CALLER_DIR), so that a relative path the user
# typed is read from where it was typed.
# shellcheck shell=bash

hpo_caller=${HPO_CALLER_DIR:-$PWD}

# hpo_dir PATH [DEFAULT]: PATH made absolute from the caller's directory
# (an absolute PATH as it is); DEFAULT, as given, when PATH is empty.
hpo_dir() {
    case $1 in
    '') printf '%s\n' "${2:-}" ;;
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$hpo_caller/$1" ;;
    esac
}
