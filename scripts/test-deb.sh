#!/bin/sh
# The Debian packages as a test (tests/test_deb.c runs it from the top of the
# tree): builds them with scripts/build-deb.sh, fails on any lintian error
# (E:), installs them with apt-get, checks the installed programs, library,
# pkg-config file and system user, and purges everything it installed so
# the machine is as before. Exit 0 passed, 1 failed, 77 skipped (not root,
# or no apt-get).
set -u

[ "$(id -u)" -eq 0 ] || { echo "skip: installing packages needs root"; exit 77; }
command -v apt-get >/dev/null 2>&1 || { echo "skip: no apt-get"; exit 77; }
for p in remiss libremiss1 libremiss-dev; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q " installed"; then
        echo "FAIL: $p is installed already; this test installs and purges it, remove it first"
        exit 1
    fi
done

tmp=$(mktemp -d /tmp/remiss-test-deb.XXXXXX)
fails=0
fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}
apt() {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -y -q "$@"
}
had_user=0
getent passwd remiss >/dev/null 2>&1 && had_user=1
dpkg-query -W -f='${Package}\n' | sort >"$tmp/before"

# Puts the machine back: purges our packages and whatever apt pulled in for
# them, and the system user if this test's install created it.
cleanup() {
    apt purge remiss libremiss1 libremiss-dev >"$tmp/purge.log" 2>&1 || cat "$tmp/purge.log"
    dpkg-query -W -f='${Package}\n' | sort >"$tmp/after"
    extra=$(comm -13 "$tmp/before" "$tmp/after")
    # shellcheck disable=SC2086
    [ -z "$extra" ] || apt purge $extra >>"$tmp/purge.log" 2>&1 || cat "$tmp/purge.log"
    if [ $had_user = 0 ] && getent passwd remiss >/dev/null 2>&1; then
        userdel remiss 2>/dev/null
        getent group remiss >/dev/null 2>&1 && groupdel remiss 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "== make deb"
scripts/build-deb.sh "$tmp/out" || { fail "the packages did not build"; exit 1; }

echo "== lintian"
lintian --info "$tmp"/out/*.deb >"$tmp/lintian.log" 2>&1
grep -v '^running with root' "$tmp/lintian.log"
if grep -q '^E:' "$tmp/lintian.log"; then
    fail "lintian reports errors (E: above)"
fi

echo "== apt-get install"
if ! apt install "$tmp"/out/remiss_*.deb "$tmp"/out/libremiss1_*.deb \
    "$tmp"/out/libremiss-dev_*.deb >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log"
    fail "apt-get install of the packages failed"
    exit 1
fi

echo "== installed files"
/usr/sbin/remissd --help >"$tmp/help" 2>&1 || fail "remissd --help failed"
grep -q -- "--config" "$tmp/help" || fail "remissd --help does not list --config"
remissctl --help >/dev/null 2>&1 || fail "remissctl --help failed"
# remissd --check-config validates /etc/remiss without binding anything: the
# example names a PKI that is not there, so it must say so and exit 1 (not
# crash or call the command line wrong). Checked once remissd has it.
if grep -q -- "--check-config" "$tmp/help"; then
    /usr/sbin/remissd --check-config --config /etc/remiss/remissd.conf >"$tmp/check" 2>&1
    rc=$?
    cat "$tmp/check"
    [ $rc = 0 ] || [ $rc = 1 ] || fail "remissd --check-config exited with $rc"
else
    echo "note: remissd has no --check-config yet; not checked"
fi
getent passwd remiss >/dev/null || fail "the system user remiss was not created"
conffiles=$(dpkg-query -W -f='${Conffiles}' remiss)
for c in /etc/remiss/remissd.conf /etc/remiss/stockholm.policy; do
    echo "$conffiles" | grep -q " $c " || fail "$c is not a conffile"
done
[ -f /lib/systemd/system/remissd.service ] || fail "no systemd unit"
grep -q '^ExecStart=/usr/sbin/remissd ' /lib/systemd/system/remissd.service ||
    fail "the unit does not start /usr/sbin/remissd"
man -w remissd >/dev/null 2>&1 || [ ! -x /usr/bin/man ] || fail "man remissd finds no page"

echo "== pkg-config and a client linked against the installed library"
flags=$(pkg-config --cflags --libs remiss) || fail "pkg-config --cflags --libs remiss failed"
echo "pkg-config: $flags"
case " $flags " in *" -lremiss "*) ;; *) fail "pkg-config gives no -lremiss" ;; esac
cat >"$tmp/client.c" <<'C'
#include <remiss.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    const char *name = remiss_code_name(REMISS_E_NO_CONSENT);
    puts(name);
    return strcmp(name, "E_NO_CONSENT") != 0;
}
C
# shellcheck disable=SC2086
if cc -std=c11 -Wall -Werror "$tmp/client.c" -o "$tmp/client" $flags; then
    [ "$("$tmp/client")" = E_NO_CONSENT ] || fail "the client did not run"
    ldd "$tmp/client" | grep -Eq "libremiss.so.1 => /(usr/)?lib/[^ ]*libremiss.so.1 " ||
        fail "the client is not linked to the installed libremiss.so.1"
else
    fail "a client does not link against the installed libremiss"
fi

echo "== $fails failures"
[ $fails = 0 ]
