#!/usr/bin/env bash
# Writes docs/cli.md, the command-line reference, from the `tandem` program's own --help:
# one section per command and subcommand, found by walking the "Subcommands:" lists, so the
# page cannot disagree with the program.
#
#   tools/gen_cli_docs.sh [TANDEM [OUT]]      default: build/cli/tandem and docs/cli.md
#   tools/gen_cli_docs.sh --check TANDEM FILE  exit 1, with a diff, when FILE is not what
#                                              TANDEM prints now (the ctest cli_docs_current)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
check=0
if [ "${1:-}" = "--check" ]; then
  check=1
  shift
  [ $# -eq 2 ] || { echo "usage: $0 --check TANDEM FILE" >&2; exit 2; }
fi
tandem=${1:-$root/build/cli/tandem}
out=${2:-$root/docs/cli.md}
[ -x "$tandem" ] || { echo "$0: $tandem: not an executable (build the CLI first)" >&2; exit 2; }

# help WORDS...: the help of `tandem WORDS... --help`, run as "tandem" so the usage line
# does not carry the build directory.
help() { (exec -a tandem "$tandem" "$@" --help); }

# The subcommand names listed in a help text, in the program's order.
subcommands() {
  awk '/^Subcommands:/ { in_list = 1; next }
       in_list && /^  [^ ]/ { print $1; next }
       in_list && !/^   / { in_list = 0 }'
}

# section WORDS...: this command's section, then its subcommands' sections.
section() {
  local text sub
  text=$(help "$@")
  printf '\n## tandem%s\n\n```text\n%s\n```\n' "$(printf ' %s' "$@")" "$text"
  while read -r sub; do
    section "$@" "$sub"
  done < <(subcommands <<<"$text")
}

# index WORDS...: a list entry per command, linked to its section.
index() {
  local sub words anchor
  while read -r sub; do
    words="$*${*:+ }$sub"
    anchor="tandem-${words// /-}"
    printf -- '- [`tandem %s`](#%s)\n' "$words" "$anchor"
    index "$@" "$sub"
  done < <(help "$@" | subcommands)
}

generate() {
  cat <<'HEADER'
# Command-line reference

Generated from the program's own `--help` by `tools/gen_cli_docs.sh`; do not edit by hand.
After changing a command or a flag, run `tools/gen_cli_docs.sh build/cli/tandem` and commit
the result (the ctest `cli_docs_current` fails while this page is stale).

HEADER
  index
  printf '\n## tandem\n\n```text\n%s\n```\n' "$(help)"
  while read -r sub; do
    section "$sub"
  done < <(help | subcommands)
}

if [ $check -eq 1 ]; then
  fresh=$(mktemp)
  trap 'rm -f "$fresh"' EXIT
  generate >"$fresh"
  if ! diff -u "$out" "$fresh"; then
    echo "$out is stale: run tools/gen_cli_docs.sh $tandem $out" >&2
    exit 1
  fi
else
  tmp="$out.tmp.$$"
  generate >"$tmp"
  mv "$tmp" "$out"
fi
