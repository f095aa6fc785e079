#!/bin/sh
# check-man: fails when a man page drifts from its program's --help.
#
# For remissd (docs/remissd.8), remiss (docs/remiss.1) and remissctl
# (docs/remissctl.8) it runs `PROGRAM --help`, renders the page with groff
# and checks that
#   1. every long option (--something) in --help appears in the page;
#   2. every command of the help's "commands:" list (its leading lowercase
#      words: "send", "pki issue") starts an entry of the page's COMMANDS
#      section;
#   3. every option --help lists on a line of its own has an entry of its own
#      in the page, and the default --help shows for it in brackets
#      ("[262144]") appears in that entry;
#   4. `PROGRAM COMMAND --help` works for every command, and each option its
#      usage line shows after the command's name appears in the command's
#      entry under COMMANDS;
# and that groff reports no warnings for any page in the directory.
#
# Environment:
#   REMISS_BIN      directory of the programs (default: bin of this tree)
#   REMISS_MAN_DIR  directory of the man pages (default: docs of this tree)
# Exit 0 when pages and --help agree; 1 with one line per problem on stdout
# when they do not; 2 when the check cannot run (no program, page or groff).
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${REMISS_BIN:-$root/bin}
mandir=${REMISS_MAN_DIR:-$root/docs}
problems=0
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

say() {
    echo "check-man: $*"
}

problem() {
    say "$*"
    problems=$((problems + 1))
}

if ! command -v groff >/dev/null 2>&1; then
    say "groff is not installed (apt-get install groff-base)"
    exit 2
fi

# Renders a man page as plain text: no hyphenation, no line breaks inside a
# paragraph, no bold or underline, and ASCII hyphens for \- and \(hy.
render() {
    groff -man -Tutf8 -rLL=5000n -rHY=0 -P-c -P-b -P-o -P-u "$1" 2>/dev/null |
        sed -e 's/\xe2\x88\x92/-/g' -e 's/\xe2\x80\x90/-/g'
}

# Long options anywhere in the help text, one per line.
help_options() {
    grep -oE -- '--[a-z][a-z0-9-]*' "$1" | sort -u
}

# Commands of the "commands:" list: the leading lowercase words of each line
# indented by exactly two spaces, e.g. "pki issue" from
# "  pki issue DIR PARTY ROLE [--key-type ...]".
help_commands() {
    awk '
        /^commands:/ { on = 1; next }
        on && /^$/ { on = 0 }
        on && /^  [a-z]/ {
            cmd = ""
            for (i = 1; i <= NF && $i ~ /^[a-z][a-z0-9-]*$/; i++)
                cmd = cmd (cmd == "" ? "" : " ") $i
            if (cmd != "") print cmd
        }' "$1"
}

# "OPTION<TAB>DEFAULT" for every option entry of the help (a line starting
# with white space and --). DEFAULT is the last text in brackets on that
# line or the indented lines below it, or empty; the option token's own
# "[=yes|no]" is not a default.
help_defaults() {
    awk '
        function flush() { if (opt != "") print opt "\t" def; opt = ""; def = "" }
        function lastbracket(s,    d) {
            d = ""
            while (match(s, /\[[^]]*\]/)) { d = substr(s, RSTART + 1, RLENGTH - 2); s = substr(s, RSTART + RLENGTH) }
            return d
        }
        /^[ \t]+--[a-z]/ {
            flush()
            line = $0
            sub(/^[ \t]+/, "", line)
            tok = line
            sub(/[ \t].*/, "", tok)
            opt = tok
            sub(/\[.*/, "", opt)
            rest = substr(line, length(tok) + 1)
            d = lastbracket(rest)
            if (d != "") def = d
            next
        }
        /^[ \t]+[^ \t-]/ && opt != "" { d = lastbracket($0); if (d != "") def = d; next }
        { flush() }
        END { flush() }' "$1"
}

# The entry of option $2 in the OPTIONS or COMMANDS section of rendered page
# $1: its tag line (the option at the start of a line) and the lines indented
# deeper than the tag, up to the next line indented as deep or less. Empty if
# there is no such entry.
page_entry() {
    awk -v opt="$2" '
        function indent(s) { match(s, /^ */); return RLENGTH }
        /^[A-Z]/ { if (found) exit; sect = ($0 == "OPTIONS" || $0 == "COMMANDS"); next }
        !found && !sect { next }
        !found {
            t = $0
            sub(/^ +/, "", t)
            if (index(t, opt) == 1) {
                c = substr(t, length(opt) + 1, 1)
                if (c == "" || c !~ /[a-z0-9-]/) { found = 1; base = indent($0); print; next }
            }
            next
        }
        /^ *$/ { print; next }
        indent($0) <= base { exit }
        { print }' "$1"
}

check() {
    prog=$1 page=$2
    help=$tmp/$prog.help text=$tmp/$prog.txt
    if [ ! -x "$bin/$prog" ]; then
        say "$bin/$prog: no such program (build it, or set REMISS_BIN)"
        exit 2
    fi
    if [ ! -f "$mandir/$page" ]; then
        say "$mandir/$page: no such man page (or set REMISS_MAN_DIR)"
        exit 2
    fi
    if ! "$bin/$prog" --help >"$help" 2>/dev/null || [ ! -s "$help" ]; then
        say "$prog --help failed or printed nothing"
        exit 2
    fi
    render "$mandir/$page" >"$text"
    if [ ! -s "$text" ]; then
        say "$mandir/$page: groff rendered nothing"
        exit 2
    fi

    for opt in $(help_options "$help"); do
        grep -qE -e "$opt([^a-z0-9-]|\$)" "$text" ||
            problem "$page: option $opt of '$prog --help' is missing"
    done

    sed -n '/^COMMANDS$/,/^[A-Z]/p' "$text" >"$tmp/$prog.commands"
    help_commands "$help" | while IFS= read -r cmd; do
        grep -qE -e "^ +$cmd( |\$)" "$tmp/$prog.commands" ||
            echo "$page: command '$cmd' of '$prog --help' has no entry under COMMANDS"
    done >"$tmp/$prog.cmdproblems"

    tab=$(printf '\t')
    help_defaults "$help" | while IFS=$tab read -r opt def; do
        page_entry "$text" "$opt" >"$tmp/$prog.entry"
        if [ ! -s "$tmp/$prog.entry" ]; then
            echo "$page: option $opt has no entry of its own under OPTIONS or COMMANDS"
        elif [ -n "$def" ] && ! grep -qwF -e "$def" "$tmp/$prog.entry"; then
            echo "$page: the entry of $opt does not show its default '$def' from '$prog --help'"
        fi
    done >>"$tmp/$prog.cmdproblems"
    help_commands "$help" | while IFS= read -r cmd; do
        # shellcheck disable=SC2086 # cmd is one or two words
        if ! "$bin/$prog" $cmd --help >"$tmp/$prog.cmdhelp" 2>/dev/null; then
            echo "$page: '$prog $cmd --help' failed"
            continue
        fi
        page_entry "$text" "$cmd" >"$tmp/$prog.entry"
        head -n 1 "$tmp/$prog.cmdhelp" | sed "s/.* $cmd //" | grep -oE -- '--[a-z][a-z0-9-]*' |
            while IFS= read -r opt; do
                grep -qE -e "$opt([^a-z0-9-]|\$)" "$tmp/$prog.entry" ||
                    echo "$page: option $opt of '$prog $cmd --help' is not in the entry of $cmd"
            done
    done >>"$tmp/$prog.cmdproblems"
    while IFS= read -r line; do
        problem "$line"
    done <"$tmp/$prog.cmdproblems"
}

check remissd remissd.8
check remiss remiss.1
check remissctl remissctl.8
check remiss-gateway remiss-gateway.8

for page in "$mandir"/*.[1-8]; do
    [ -f "$page" ] || continue
    warnings=$(groff -man -ww -z "$page" 2>&1)
    [ -z "$warnings" ] || problem "$(basename "$page"): groff warnings: $warnings"
done

if [ "$problems" -gt 0 ]; then
    say "$problems problem(s): the man pages in $mandir and --help differ"
    exit 1
fi
say "ok: remissd.8, remiss.1, remissctl.8 and remiss-gateway.8 agree with --help"
exit 0
