#!/usr/bin/perl

# Behind a real PgBouncer (Debian's 1.18) in transaction pooling, with
# tickets_db_prepared off: two server connections shared by the sixteen
# connections of two nginx workers x four threads x two hosts.  Writes
# with their pipelined BEGIN and COMMIT, reads, lists, an If-Match
# conflict, an Idempotency-Key retry, a failed write followed by good
# ones, parallel registers: all answer as without PgBouncer, and PgBouncer
# counts the transactions.

use strict;
use warnings;
use utf8;

use POSIX ();
use Test::More;
use Tickets::Fleet;
use Tickets::Test;

plan skip_all => 'pgbouncer is not installed' unless -x '/usr/sbin/pgbouncer'
    || $ENV{TEST_PGBOUNCER};

my $API = '/api/TicketsApi';
my $f = Tickets::Fleet->new;
my $p = $f->primary;
$f->start_pgbouncer(pool_mode => 'transaction', pool_size => 2);
my @H = $f->hosts(2, db => $f->pgbouncer_conninfo, workers => 2,
    conf => "    tickets_db_prepared off;\n");
my $admin = $p->token('admin');
my %U = map { $_ => $p->user_id($_) } qw(admin tech1 member1);
$p->ctl_ok(qw(setting set auto_assign_on_create true));

my @BASE = (Description => 'Through PgBouncer.', CreatorId => $U{member1},
    SiteId => 1, DepartmentId => 1, TicketStatusId => 1,
    TicketType => 'Incident');

sub register {
    my ($h, $title, %o) = @_;
    return $h->form_post("$API/register", [Title => $title, @BASE,
        @{$o{more} // []}], token => $admin, %o);
}

my $r = register($H[0], 'pgb-1');
is $r->{status}, 201, 'register: 201' or diag $r->{content};
my $id = $r->{json}{id};
$r = $H[1]->http(GET => "$API/$id", token => $admin);
is $r->{status}, 200, 'GET on the other host: 200';
my $etag = $r->{headers}{etag};
$p->ticket_ok($r->{json}, $id, 'the ticket as the database has it');

$r = $H[0]->form_post("$API/update/$id", [TicketPriorityId => 3],
    token => $admin, headers => { 'If-Match' => $etag });
is $r->{status}, 204, 'update with If-Match: 204';
$r = $H[1]->form_post("$API/update/$id", [TicketPriorityId => 4],
    token => $admin, headers => { 'If-Match' => $etag });
$p->problem_ok($r, 412, 'the same If-Match again: 412');

$r = $H[0]->form_post("$API/update/$id", [GroupId => 999],
    token => $admin);
$p->problem_ok($r, 400, 'an invalid update: 400');
$r = $H[0]->form_post("$API/note/$id", [Id => $id, Message => 'A note'],
    token => $admin);
is $r->{status}, 201, 'a note after it: 201' or diag $r->{content};
$r = $H[1]->http(GET => "$API/$id/conversations", token => $admin);
is $r->{status}, 200, 'conversations: 200';
is scalar @{$r->{json} // []}, 1, '... the note';
$r = $H[1]->http(GET => "$API/$id/history", token => $admin);
is $r->{status}, 200, 'history: 200';
$r = $H[0]->form_post("$API/$id/tasks", [Title => 'A task'],
    token => $admin);
is $r->{status}, 201, 'a task: 201' or diag $r->{content};
is $H[1]->http(GET => "$API/$id/tasks", token => $admin)->{status}, 200,
    'tasks: 200';
$r = $H[0]->http(GET => "$API?pageSize=5", token => $admin);
is $r->{status}, 200, 'a list (its snapshot pipelined): 200';
like $r->{headers}{'x-total-count'} // '', qr/^\d+$/, '... with X-Total-Count';
$r = $H[1]->form_post('/api/auth/token', [username => 'admin',
    password => 'demo']);
is $r->{status}, 200, 'login: 200';

my $key = 'pgb-' . int(rand 1e9);
my $r1 = register($H[0], 'pgb-idem', headers => { 'Idempotency-Key' => $key });
my $r2 = register($H[1], 'pgb-idem', headers => { 'Idempotency-Key' => $key });
is $r1->{status}, 201, 'Idempotency-Key: 201';
is $r2->{json}{id}, $r1->{json}{id}, '... retried on the other host: the'
    . ' same ticket';

# parallel: many clients, two server connections
my ($N, $CLIENTS) = (40, 8);
my @pids;
for my $c (0 .. $CLIENTS - 1) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $ok = 1;
        for my $i (1 .. $N / $CLIENTS) {
            my $x = register($H[$c % 2], 'pgb-par', more => [GroupId => 1]);
            $ok &&= $x->{status} == 201;
            my $g = $H[($c + 1) % 2]->http(GET => "$API/"
                . ($x->{json}{id} // 0), token => $admin);
            $ok &&= $g->{status} == 200;
        }
        POSIX::_exit($ok ? 0 : 1);
    }
    push @pids, $pid;
}
my $failed = 0;
for (@pids) { waitpid $_, 0; $failed++ if $? }
is $failed, 0, "$N registers and reads by $CLIENTS clients: all 201 and 200";
is $p->psql("SELECT count(*) FROM tickets WHERE title = 'pgb-par'"), $N,
    "$N tickets";
is $p->psql("SELECT count(*) FROM tickets WHERE title = 'pgb-par' AND"
    . " assignee_id IS NOT NULL"), $N, '... each auto-assigned';

my ($pool) = grep { $_->{database} eq 'tickets' } $f->pgbouncer_show('POOLS');
my ($stats) = grep { $_->{database} eq 'tickets' } $f->pgbouncer_show('STATS');
my @servers = grep { $_->{database} eq 'tickets' }
    $f->pgbouncer_show('SERVERS');
diag "pgbouncer: $stats->{total_xact_count} transactions,"
    . " $stats->{total_query_count} queries over " . scalar(@servers)
    . ' server connections';
cmp_ok $stats->{total_xact_count}, '>', 2 * $N, 'the transactions went'
    . ' through PgBouncer';
cmp_ok scalar(@servers), '<=', 2, 'over two server connections at most';
is $pool->{pool_mode}, 'transaction', 'in transaction pooling'
    if exists $pool->{pool_mode};

unlike join('', map { $_->error_log } @H),
    qr/prepared statement|\[(?:alert|crit|emerg)\]/,
    'no prepared statement errors, no alerts';
unlike join('', map { Tickets::Test::_slurp($_->dir . '/access.log') } @H),
    qr/" 500 /, 'no 500 at all';

$f->stop;

done_testing;
