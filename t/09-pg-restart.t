#!/usr/bin/perl

# PostgreSQL goes away and comes back while nginx runs: 503 with
# Retry-After at once, never a hang, a 401 or a 500; then recovery
# (SPEC 3 health, libtickets tk_conn_open: reconnects after a failure).

use strict;
use warnings;
use utf8;

use Test::More;
use Time::HiRes qw(time sleep);
use Tickets::Test;

my $t = Tickets::Test->new->run;
my $admin = $t->token('admin');
my @REGISTER = (Title => 'During the outage', Description => 'x',
    CreatorId => $t->user_id('member1'), SiteId => 1, DepartmentId => 1,
    TicketStatusId => 1, TicketType => 'Ticket');

sub get1 {
    return $t->http(GET => '/api/TicketsApi/1', token => $admin,
        timeout => 20);
}

# Requests until n answers in a row are 200, within the time limit:
# (succeeded, statuses seen).
sub recovers {
    my ($n, $limit) = @_;
    my $until = time + $limit;
    my ($row, @seen) = (0);
    while (time < $until) {
        my $r = get1();
        push @seen, $r->{status};
        $row = $r->{status} == 200 ? $row + 1 : 0;
        return (1, @seen) if $row >= $n;
        sleep 0.1 if $r->{status} != 200;
    }
    return (0, @seen);
}

# Warm up: every worker and thread holds a connection.
is get1()->{status}, 200, "before: 200" for 1 .. 16;

$t->stop_pg;

my $t0 = time;
my $r = get1();
my $took = time - $t0;
$t->problem_ok($r, 503, 'PostgreSQL down: GET a ticket, 503 problem');
ok $took < 5, sprintf 'answered in %.2fs, no hang', $took;
like $r->{headers}{'retry-after'} // '', qr/^\d+$/, '503 carries Retry-After';

my @statuses = map { get1()->{status} } 1 .. 12;
is_deeply \@statuses, [(503) x 12], 'every worker answers 503'
    or diag "@statuses";

$r = $t->http(GET => '/api/health', timeout => 20);
$t->problem_ok($r, 503, 'health while down: 503');
$r = $t->form_post('/api/auth/token', [username => 'admin',
    password => 'demo'], timeout => 20);
$t->problem_ok($r, 503, 'login while down: 503, not 401');
$r = $t->form_post('/api/TicketsApi/register', \@REGISTER, token => $admin,
    timeout => 20);
$t->problem_ok($r, 503, 'register while down: 503');
$r = $t->http(GET => '/api/TicketsApi/appmetadata', token => $admin,
    timeout => 20);
$t->problem_ok($r, 503, 'appmetadata while down: 503');
$r = $t->http(GET => '/api/TicketsApi/1', token => $admin, timeout => 20,
    headers => { 'X-Request-Id' => 'outage-1' });
is $r->{headers}{'x-request-id'}, 'outage-1', 'X-Request-Id on a 503';

$t->start_pg;

my ($ok, @seen) = recovers(20, 10);
ok $ok, 'after the restart, 20 answers in a row are 200 within 10 s'
    or diag "statuses: @seen";
ok !grep({ $_ != 200 && $_ != 503 } @seen),
    'while recovering only 200 or 503' or diag "statuses: @seen";
is scalar(grep { $_ == 503 } @seen) <= 8, 1,
    'at most one 503 per worker thread' or diag "statuses: @seen";
is $t->http(GET => '/api/health')->{status}, 200, 'health: 200 again';
is $t->form_post('/api/auth/token', [username => 'admin',
    password => 'demo'])->{status}, 200, 'login: 200 again';
is $t->form_post('/api/TicketsApi/register', \@REGISTER,
    token => $admin)->{status}, 201, 'register: 201 again';
is scalar $t->psql(q{SELECT count(*) FROM tickets
    WHERE title = 'During the outage'}), 1,
    'only the ticket registered after the outage exists';

# A restart nobody noticed: every connection is stale at once.
$t->restart_pg;
($ok, @seen) = recovers(20, 10);
ok $ok, 'after a quiet restart, 20 answers in a row are 200 within 10 s'
    or diag "statuses: @seen";
ok !grep({ $_ != 200 && $_ != 503 } @seen),
    'while recovering only 200 or 503' or diag "statuses: @seen";

done_testing;
