#!/usr/bin/perl

# make chaos in short (15 s): writes under worker SIGKILLs, reloads,
# PostgreSQL fast and immediate restarts and a graceful stop and start of
# nginx; t/chaos.pl accounts for every request and exits non-zero on a
# lost or doubled write, an unanswered request or an unexpected alert.
# The full run is make chaos (CHAOS_SECONDS, default 60).

use strict;
use warnings;

use Test::More;
use Tickets::Test;

plan skip_all => 'the module is not built (make)'
    unless -e $Tickets::Test::MODULE;

my ($rc, $out, $err) = Tickets::Test::run_cmd(['perl', '-I',
    "$Tickets::Test::ROOT/t/lib", "$Tickets::Test::ROOT/t/chaos.pl"],
    env => { CHAOS_SECONDS => $ENV{CHAOS_SECONDS} // 15 });
note $out;
is $rc, 0, 'chaos: nothing lost, doubled or unanswered, no unexpected alert'
    or diag "$out$err";
like $out, qr/^acknowledged writes: [1-9]/m, 'chaos: writes were acknowledged';

done_testing;
