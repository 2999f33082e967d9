#!/usr/bin/perl

# make install DESTDIR=... PREFIX=/usr/local lays out the library with its
# soname links, the header, a .pc of that prefix, ticketsctl, its man page,
# the migrations and the module; make uninstall takes them away again.  And
# the version comes from one place: VERSION, which debian/changelog, the
# .pc, ticketsctl --version and the library all report.

use strict;
use warnings;

use File::Find ();
use File::Temp ();
use Test::More;
use Tickets::Test;

my $root = Tickets::Test->root;
for (['build/ticketsctl', $Tickets::Test::CTL],
     ['the module', $Tickets::Test::MODULE])
{
    plan skip_all => "$_->[0] is not built (make)" unless -e $_->[1];
}

# a make of our own, not a part of the make that runs the tests
delete @ENV{qw(MAKEFLAGS MAKELEVEL MFLAGS MAKEOVERRIDES)};

my ($version) = Tickets::Test::_slurp("$root/VERSION") =~ /^(\S+)\n?\z/;
like $version, qr/^\d+\.\d+\.\d+$/, "VERSION: $version";

my ($changelog) = Tickets::Test::_slurp("$root/debian/changelog")
    =~ /^ngx-tickets \(([^)]+)\)/;
my $upstream = ($changelog // '') =~ s/-[^-]+$//r;
is $upstream, $version, 'debian/changelog has the version of VERSION';

my ($rc, $out, $err) = Tickets::Test::run_cmd([$Tickets::Test::CTL,
    '--version']);
is "$rc $out", "0 ticketsctl $version\n", 'ticketsctl --version';

my $dest = File::Temp::tempdir('tickets-install-XXXXXX', CLEANUP => 1,
    DIR => $ENV{TEST_TMPDIR} // File::Spec->tmpdir);
my @make = ('make', '-s', '-C', $root, "DESTDIR=$dest", 'PREFIX=/usr/local');

($rc, $out, $err) = Tickets::Test::run_cmd([@make, 'install']);
is $rc, 0, 'make install' or diag "$out$err";

my $p = "$dest/usr/local";
my %want = (
    "$p/lib/libtickets.so.$version"           => 'f',
    "$p/lib/libtickets.so.0"                  => "l libtickets.so.$version",
    "$p/lib/libtickets.so"                    => 'l libtickets.so.0',
    "$p/lib/libtickets.a"                     => 'f',
    "$p/lib/pkgconfig/libtickets.pc"          => 'f',
    "$p/include/tickets.h"                    => 'f',
    "$p/bin/ticketsctl"                       => 'x',
    "$p/share/man/man1/ticketsctl.1"          => 'f',
    "$dest/usr/lib/nginx/modules/ngx_http_tickets_module.so" => 'f',
    map { ("$p/share/ngx-tickets/sql/$_" => 'f') }
        map { s{.*/}{}r } glob("$root/sql/[0-9]*.sql"),
);

my %got;
File::Find::find({ no_chdir => 1, wanted => sub {
    return if -d $_ && !-l $_;
    $got{$_} = -l $_ ? 'l ' . readlink($_) : -x $_ ? 'x' : 'f';
} }, $dest);
is_deeply \%got, \%want, 'make install: exactly the expected files'
    or diag explain \%got;

my $pc = Tickets::Test::_slurp("$p/lib/pkgconfig/libtickets.pc");
like $pc, qr{^prefix=/usr/local$}m, '.pc: prefix=/usr/local';
like $pc, qr{^libdir=/usr/local/lib$}m, '.pc: libdir';
like $pc, qr{^includedir=/usr/local/include$}m, '.pc: includedir';
like $pc, qr{^Version: \Q$version\E$}m, '.pc: Version';

($rc, $out) = Tickets::Test::run_cmd(['objdump', '-p',
    "$p/lib/libtickets.so.$version"]);
like $out, qr/SONAME\s+libtickets\.so\.0$/m, 'SONAME libtickets.so.0';
($rc, $out) = Tickets::Test::run_cmd(['nm', '-D', '--defined-only',
    "$p/lib/libtickets.so.$version"]);
unlike $out, qr/ tk__/, 'the tk__ helpers are not exported';

($rc, $out) = Tickets::Test::run_cmd(["$p/bin/ticketsctl", '--version']);
is $out, "ticketsctl $version\n", 'installed ticketsctl --version';

# a program of someone else's, built against the installed files
my $c = "$dest/v.c";
Tickets::Test::_spew($c, <<'C');
#include <stdio.h>
#include <tickets.h>
int main(void) { puts(tk_version()); return 0; }
C
($rc, $out, $err) = Tickets::Test::run_cmd(['cc', '-o', "$dest/v", $c,
    "-I$p/include", "-L$p/lib", '-ltickets']);
is $rc, 0, 'a program links with -ltickets' or diag $err;
($rc, $out) = Tickets::Test::run_cmd(["$dest/v"],
    env => { LD_LIBRARY_PATH => "$p/lib" });
is $out, "$version\n", 'and loads libtickets.so.0: tk_version()';
unlink $c, "$dest/v";

($rc, $out, $err) = Tickets::Test::run_cmd([@make, 'uninstall']);
is $rc, 0, 'make uninstall' or diag "$out$err";
my @left;
File::Find::find({ no_chdir => 1, wanted => sub {
    push @left, $_ unless -d $_ && !-l $_;
} }, $dest);
is_deeply \@left, [], 'make uninstall: nothing left';

done_testing;
