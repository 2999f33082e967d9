#!/usr/bin/perl

# Runs the Check unit test binaries against one throwaway PostgreSQL
# (migrated, demo data loaded), as make unit does:
#
#   perl -It/lib t/unit/run.pl build/t/check_form build/t/check_crypto ...
#
# Each binary finds the database in TICKETS_TEST_DB (a conninfo string) and
# the repository in TICKETS_TEST_ROOT.  Exits non-zero when any failed.

use strict;
use warnings;

use Tickets::Test;

$| = 1;
my @bins = @ARGV;
my ($passed, $failed) = (0, 0);

my $t = Tickets::Test->new(nginx => 0);
$ENV{TICKETS_TEST_DB}   = $t->conninfo;
$ENV{TICKETS_TEST_ROOT} = $t->root;

for my $bin (@bins) {
    # a path without a slash would be looked up in PATH
    my $path = $bin =~ m{/} ? $bin : "./$bin";
    { no warnings 'exec'; system $path; }
    if ($? == 0) {
        $passed++;
        next;
    }
    $failed++;
    my $why = $? == -1 ? "cannot run: $!"
        : $? & 127 ? 'killed by signal ' . ($? & 127)
        : 'exit status ' . ($? >> 8);
    print STDERR "unit: $bin failed ($why)\n";
}

print "unit: $passed passed, $failed failed\n";
$t->stop;
exit($failed ? 1 : 0);
