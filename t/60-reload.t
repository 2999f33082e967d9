#!/usr/bin/perl

# nginx -s reload and nginx -s quit under load: every request in flight
# gets its answer, the old workers exit once their requests are done, and
# nothing acknowledged is lost or doubled (issue 13, part 1).  Several
# clients register, reply, update and read over fresh connections while
# the master is HUPed several times, then QUIT.
#
# During the reloads every attempt must be answered: the listening sockets
# stay open throughout.  After the QUIT a connection that no worker
# accepted any more is reset by the kernel; such a write cannot have run,
# so an unanswered write of the quit is tolerated only when it is absent
# from the database.  A write that committed without its answer is the
# defect this file guards against.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use Tickets::Load;
use Tickets::Test;

my $RELOADS = 5;

my $t = Tickets::Test->new->run(workers => 2);
my $master = sub { (Tickets::Test::_slurp($t->dir . '/nginx.pid')
    =~ /(\d+)/)[0] };
my $pid = $master->();
ok $pid, "master $pid";

my $l = Tickets::Load->new(t => $t, clients => 8, prefix => 'rl',
    token => $t->token('admin'), retry_for => 20);
$l->start;

# the load runs, then each reload waits for the new workers to answer
sleep 1.5;
my @hup;
for (1 .. $RELOADS) {
    push @hup, time;
    kill 'HUP', $pid or die "HUP $pid: $!";
    sleep 1.2;
}
my $quit = time;
kill 'QUIT', $pid or die "QUIT $pid: $!";

# the master exits once its workers have: bounded by the requests in
# flight (milliseconds), not by a timeout
my $gone;
for (1 .. 300) {
    last if $gone = !Tickets::Test::_alive($pid);
    sleep 0.1;
}
ok $gone, 'nginx -s quit under load: the master exited';
$t->{nginx_running} = 0 if $gone;
$l->stop;

my $acc = $l->account;
my @a = @{$acc->{attempts}};
my @before = grep { $_->{t1} < $quit } @a;
diag sprintf '%d attempts (%d before the quit), %d writes acknowledged,'
    . ' %d reads; outcomes: %s', scalar @a, scalar @before, $acc->{acked},
    $acc->{reads}, join ', ', map { "$_ $acc->{by_outcome}{$_}" }
    sort keys %{$acc->{by_outcome}};
cmp_ok $acc->{acked}, '>', 20 * $RELOADS, 'the load ran across the reloads';

# 1. across the reloads: every attempt answered, none refused
my @bad = grep { $_->{t1} < $quit && $_->{outcome} ne 'answer' } @a;
is scalar @bad, 0, "$RELOADS reloads under load: every request answered"
    or diag join "\n", map { Tickets::Load::describe($_) }
        grep defined, @bad[0 .. 19];

# 2. at the quit: no write committed without its answer
my @lost_answer = grep { $_->{t1} >= $quit && $_->{present} }
    @{$acc->{unanswered}};
is scalar @lost_answer, 0, 'nginx -s quit: no write committed unanswered'
    or diag join "\n", map { Tickets::Load::describe($_) } @lost_answer;
my @reads = grep { $_->{t1} >= $quit && !defined $_->{present} }
    @{$acc->{unanswered}};
my @absent = grep { $_->{t1} >= $quit && defined $_->{present}
    && !$_->{present} } @{$acc->{unanswered}};
note sprintf 'at the quit: %d writes and %d reads reset before a worker'
    . ' took them', scalar @absent, scalar @reads;

# 3. every acknowledged write once, nothing else went wrong
is scalar @{$acc->{lost}}, 0, 'no acknowledged write lost'
    or diag join "\n", map { Tickets::Load::describe($_) } @{$acc->{lost}};
is scalar @{$acc->{dup}}, 0, 'no acknowledged write twice'
    or diag join "\n", map { Tickets::Load::describe($_) } @{$acc->{dup}};
is scalar @{$acc->{errors}}, 0, 'no answer but 2xx and 503'
    or diag join "\n", map { Tickets::Load::describe($_) }
        grep defined, @{$acc->{errors}}[0 .. 9];

# the old workers said why they went, and never "open socket left"
my $log = $t->error_log;
my $exits = () = $log =~ /gracefully shutting down/g;
cmp_ok $exits, '>=', 2 * ($RELOADS + 1), 'each worker shut down gracefully';
unlike $log, qr/open socket #\d+ left|aborting/,
    'no worker left a request behind';

# nginx starts again over the same database, and answers
$t->run;
is $t->http(GET => '/api/TicketsApi/' . $l->{tickets}[0],
    token => $t->token('admin'))->{status}, 200, 'after the quit: nginx runs';

done_testing;
