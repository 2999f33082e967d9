#!/usr/bin/perl

# The fleet (docs/scale.md): a primary with a streaming replica
# (pg_basebackup -R) and three nginx over them.  Reads are served by the
# replica; a client's read after its own write sees it (the host's table,
# X-Tickets-LSN, the cookie), while the replica is paused; a replica past
# tickets_db_read_max_lag, or stopped, is skipped.  Across the three hosts
# at once: round robin stays exactly fair, each notification is delivered
# once, the escalation job runs once, an Idempotency-Key used on one host
# and retried on another answers the first answer, an If-Match race lets
# one write through.  A read-only primary (25006) answers 503 and then
# recovers.  The primary stopped and the replica promoted while a writer
# per host keeps writing: 503 with Retry-After meanwhile, never a hang,
# writes resume on every host without a restart, and every acknowledged
# write is on the new primary.

use strict;
use warnings;
use utf8;

use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);
use Tickets::Fleet;
use Tickets::Sink;
use Tickets::Test;

my $API = '/api/TicketsApi';
my $f = Tickets::Fleet->new(replica => 1);
my $p = $f->primary;
my $have_sink = system("$Tickets::Sink::PYTHON -c 'import aiosmtpd'"
    . ' 2>/dev/null') == 0;
my $sink = $have_sink ? Tickets::Sink->new(dir => $f->dir . '/sink') : undef;

sub set { $p->ctl_ok('setting', 'set', @_) }
if ($sink) {
    set(smtp_url => $sink->smtp_url);
    set(push_url => $sink->http_url('/push'));
    set(public_base_url => 'https://helpdesk.example.com');
}
set(outbox_retry_base_seconds => 1);
set(outbox_retry_max_seconds => 1);
set(escalation_interval_seconds => 1);
set(auto_assign_on_create => 'true');
set(auto_assign_method => 'RoundRobin');
my %U = map { $_ => $p->user_id($_) } qw(admin tech1 tech2 tech3 member1);
# three technicians in Service Desk
$f->psql("INSERT INTO group_members (group_id, user_id) VALUES (1,"
    . " '$U{tech3}')");
$f->wait_replayed or BAIL_OUT('the replica does not replay');

my @H = $f->hosts(3, tickets_db_read => 1, max_lag => '30s', workers => 2,
    jobs => 1, http_extra => "    tickets_outbox_interval 200ms;\n");
my $admin = $p->token('admin');
my $tech1 = $p->token('tech1');

my @BASE = (Description => 'Fleet.', CreatorId => $U{member1}, SiteId => 1,
    DepartmentId => 1, TicketStatusId => 1, TicketType => 'Incident');

sub register {
    my ($h, $title, @more) = @_;
    return $h->form_post("$API/register", [Title => $title, @BASE, @more],
        token => $admin);
}

sub get {
    my ($h, $id, $token, %hdr) = @_;
    return $h->http(GET => "$API/$id", token => $token // $admin,
        headers => \%hdr);
}

# the priority a read answers, which the update below changes
sub title_of { ((get(@_)->{json} // {})->{priority} // {})->{priority} // '' }

sub served { $f->served($_[0], qr{^GET \S+/$_[1] 200 }) }

# Reads on the replica ----------------------------------------------------

my $r = register($H[0], 'fleet-base');
is $r->{status}, 201, 'register through the first host: 201';
my $id = $r->{json}{id};
like $r->{headers}{'x-tickets-lsn'} // '', qr{^[0-9A-F]+/[0-9A-F]+$},
    'a write answers X-Tickets-LSN';
like $r->{headers}{'set-cookie'} // '', qr{^tickets_lsn=[0-9A-F]+/[0-9A-F]+;},
    'and the cookie';
$f->wait_replayed;

my $xacts = "SELECT xact_commit FROM pg_stat_database WHERE datname ="
    . " 'tickets'";
my $before = $f->replica_psql($xacts);
for my $h (@H) {
    is get($h, $id, $tech1)->{status}, 200, 'GET through host ' . $h->port
        for 1 .. 5;
}
for my $i (0 .. 2) {
    is served($H[$i], $id)->{replica}, 5, "host $i: all five reads on the"
        . ' replica';
}
my $until = time + 5;
sleep 0.2 while $f->replica_psql($xacts) < $before + 15 && time < $until;
cmp_ok $f->replica_psql($xacts), '>=', $before + 15,
    "the replica's pg_stat_database counts them";
cmp_ok $f->replica_psql("SELECT count(*) FROM pg_stat_activity WHERE"
    . " application_name = 'ngx_tickets'"), '>=', 3,
    'the hosts hold connections to the replica';
$r = $H[1]->http(GET => "$API?search=fleet-base", token => $tech1);
is $r->{status}, 200, 'a list through a host';
for my $path ("$API/$id/conversations", "$API/$id/history",
    "$API/$id/tasks", "$API/metadata", "$API/appmetadata")
{
    is $H[1]->http(GET => $path, token => $tech1)->{status}, 200,
        "GET $path";
}
is_deeply $f->served($H[1], qr{^GET /api/TicketsApi(?:/$id/\w+|/\w*metadata)? 200 }),
    { replica => 6, primary => 0 },
    'the list, conversations, history, tasks and metadata: on the replica';

# Read-your-writes, the replica paused ------------------------------------

# a commit the replica replays last, so that its lag starts from now
register($H[2], 'fleet-tick');
$f->wait_replayed;
my $old = title_of($H[0], $id);
isnt $old, 'Urgent', "the priority before: $old";
$f->pause_replay;
$r = $H[0]->form_post("$API/update/$id", [TicketPriorityId => 4],
    token => $admin);
is $r->{status}, 204, 'update through host 0 while the replica is paused';
my $lsn = $r->{headers}{'x-tickets-lsn'};
ok $lsn, "its LSN $lsn";
is title_of($H[0], $id), 'Urgent',
    'the writer reads it back on the same host: the host remembers';
is served($H[0], $id)->{primary}, 1, '... from the primary';
is title_of($H[1], $id, $admin, 'X-Tickets-LSN' => $lsn), 'Urgent',
    'on another host with X-Tickets-LSN';
is title_of($H[2], $id, $admin, Cookie => "tickets_lsn=$lsn"), 'Urgent',
    'on a third host with the cookie';
is title_of($H[1], $id, $tech1), $old,
    'another user without the LSN: the paused replica (stale, within the'
    . ' bound)';
is served($H[1], $id)->{replica}, 6, '... served by the replica';
is get($H[1], "$id/history", $admin, 'X-Tickets-LSN' => $lsn)->{status},
    200, 'history with the LSN: 200';

# a host whose bound is half a second skips it soon
my ($strict) = $f->hosts(1, tickets_db_read => 1, max_lag => '500ms');
sleep 1;
is title_of($strict, $id, $tech1), 'Urgent',
    'past tickets_db_read_max_lag the replica is skipped';
is served($strict, $id)->{primary}, 1, '... for the primary';
$strict->stop_nginx;

$f->resume_replay;
$f->wait_replayed;
is title_of($H[1], $id, $tech1), 'Urgent', 'replayed: fresh on the'
    . ' replica';
is served($H[1], $id)->{replica}, 7, '... served there';

# The replica stopped: reads go to the primary -----------------------------

$f->stop_replica;
my @st = map { get($H[$_ % 3], $id, $tech1)->{status} } 0 .. 8;
is_deeply \@st, [(200) x 9], 'replica stopped: reads still 200'
    or diag "@st";
$f->start_replica;
$f->wait_replayed;
$until = time + 8;
my $back = 0;
while (time < $until && !$back) {
    my $n0 = served($H[0], $id)->{replica};
    get($H[0], $id, $tech1);
    $back = served($H[0], $id)->{replica} > $n0;
    sleep 0.2 unless $back;
}
ok $back, 'the replica back: reads go there again';

# Round robin across three hosts ------------------------------------------

my ($N, $CLIENTS) = (30, 6);
my @pids;
for my $c (0 .. $CLIENTS - 1) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $ok = 1;
        for (1 .. $N / $CLIENTS) {
            my $x = register($H[$c % 3], 'fleet-rr', GroupId => 1);
            $ok &&= $x->{status} == 201 && $x->{json}{assignee};
        }
        POSIX::_exit($ok ? 0 : 1);
    }
    push @pids, $pid;
}
my $failed = 0;
for (@pids) { waitpid $_, 0; $failed++ if $? }
is $failed, 0, "$N registers by $CLIENTS clients over three hosts: 201,"
    . ' assigned';
my %rr = map { split /\|/ } $f->psql("SELECT u.user_name, count(t.id) FROM"
    . " users u LEFT JOIN tickets t ON t.assignee_id = u.id AND t.title ="
    . " 'fleet-rr' WHERE u.user_name IN ('tech1', 'tech2', 'tech3')"
    . " GROUP BY u.user_name");
my @c = sort { $a <=> $b } map { $rr{$_} // 0 } qw(tech1 tech2 tech3);
diag "round robin over three hosts: tech1 $rr{tech1}, tech2 $rr{tech2},"
    . " tech3 $rr{tech3}";
is $c[0] + $c[1] + $c[2], $N, "all $N assigned";
ok $c[2] - $c[0] <= 1, 'no technician more than one above another';
for my $i (0 .. 2) {
    my $log = Tickets::Test::_slurp($H[$i]->dir . '/access.log');
    my $n = () = $log =~ m{"POST /api/TicketsApi/register[^"]*" 201}g;
    cmp_ok $n, '>=', $N / 3, "host $i took its share";
}

# Idempotency-Key on host A, retried on host B ----------------------------

my $key = 'fleet-' . int(rand 1e9);
my $r1 = $H[0]->form_post("$API/register", [Title => 'fleet-idem', @BASE],
    token => $admin, headers => { 'Idempotency-Key' => $key });
my $r2 = $H[1]->form_post("$API/register", [Title => 'fleet-idem', @BASE],
    token => $admin, headers => { 'Idempotency-Key' => $key });
is $r1->{status}, 201, 'Idempotency-Key on host 0: 201';
is $r2->{status}, $r1->{status}, 'retried on host 1: the same status';
is $r2->{json}{id}, $r1->{json}{id}, '... the same ticket';
is $f->psql("SELECT count(*) FROM tickets WHERE title = 'fleet-idem'"), 1,
    'one ticket';

# If-Match races between two hosts ----------------------------------------

my @wins;
for my $round (1 .. 5) {
    my $tid = register($H[2], "fleet-race-$round")->{json}{id};
    my $etag = get($H[2], $tid)->{headers}{etag};
    my $at = time + 0.3;
    my @kids;
    for my $k (0, 1) {
        pipe my $rd, my $wr or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            close $rd;
            sleep $at - time if $at > time;
            my $x = $H[$k]->form_post("$API/update/$tid",
                [TicketPriorityId => 2 + $k], token => $admin,
                headers => { 'If-Match' => $etag });
            print $wr $x->{status};
            close $wr;
            POSIX::_exit(0);
        }
        close $wr;
        push @kids, [$pid, $rd];
    }
    my @s;
    for (@kids) {
        my ($pid, $rd) = @$_;
        local $/;
        push @s, <$rd> // '';
        waitpid $pid, 0;
    }
    push @wins, join '+', sort @s;
}
is_deeply \@wins, [('204+412') x 5],
    'five If-Match races between two hosts: one 204 and one 412 each'
    or diag "@wins";

# Notifications and the escalation job over three hosts -------------------

SKIP: {
    skip '/usr/bin/python3 with aiosmtpd is needed', 5 unless $sink;
    my $from = $f->psql('SELECT coalesce(max(id), 0) FROM outbox');
    $f->psql("INSERT INTO outbox (channel, event, ticket_id, recipients,"
        . " payload) SELECT 'email', 'Reply', NULL, ARRAY['f' || i ||"
        . " '\@example.com'], jsonb_build_object('subject', 'Fleet ' || i,"
        . " 'message', 'x') FROM generate_series(1, 60) i");
    my $late = $f->psql("INSERT INTO tickets (title, description,"
        . " requester_id, assignee_id, created_by_id, site_id,"
        . " department_id, status_id, group_id, due_date) VALUES"
        . " ('fleet-late', 'x', '$U{member1}', '$U{tech1}', '$U{admin}', 1,"
        . " 1, 1, 2, now() - interval '1 minute') RETURNING id");
    my @bulk = $sink->wait_mails(sub { ($_[0]{subject} // '')
        =~ /^Fleet \d+$/ }, 60, 20);
    my %seen;
    $seen{$_->header('Message-ID')}++ for @bulk;
    is scalar(keys %seen), 60, 'three hosts: 60 queued emails, each'
        . ' delivered';
    my $wait = time + 10;
    sleep 0.2 while $f->psql("SELECT count(*) FROM outbox WHERE id > $from"
        . " AND status <> 'sent'") > 0 && time < $wait;
    is $f->psql("SELECT count(*) FROM outbox WHERE id > $from AND status"
        . " <> 'sent'"), 0, 'all marked sent';
    my @esc = $sink->wait_mails(sub {
        ($_[0]->header('X-Tickets-Ticket-Id') // '') eq $late
            && ($_[0]->header('X-Tickets-Event') // '') eq 'Escalated' },
        1, 10);
    sleep 1.5;
    is scalar($sink->wait_mails(sub {
        ($_[0]->header('X-Tickets-Ticket-Id') // '') eq $late
            && ($_[0]->header('X-Tickets-Event') // '') eq 'Escalated' },
        2, 0)), 1, 'the escalation job: one email for the late ticket';
    is $f->psql("SELECT count(*) FROM conversations WHERE ticket_id ="
        . " $late"), 1, '... one Escalation conversation';
    %seen = ();
    $seen{$_->header('Message-ID')}++ for $sink->mails;
    my %push;
    $push{$_->{headers}{'idempotency-key'} // ''}++ for $sink->requests;
    my $dups = grep({ $_ > 1 } values %seen) + grep({ $_ > 1 } values %push);
    diag sprintf 'notifications over three hosts: %d emails, %d pushes,'
        . ' %d twice', scalar(keys %seen), scalar(keys %push), $dups;
    is $dups, 0, 'no email and no push arrived twice';
}

# A read-only primary (a demoted one): 503, then recovery -----------------

# until a new session has it, which the others then have been told
sub read_only_is {
    my ($want) = @_;
    my $until = time + 10;
    sleep 0.05 until $f->psql('SHOW default_transaction_read_only') eq $want
        || time > $until;
}
$f->psql('ALTER SYSTEM SET default_transaction_read_only = on');
$f->psql('SELECT pg_reload_conf()');
read_only_is('on');
$r = register($H[0], 'fleet-ro');
is $r->{status}, 503, 'primary read only: a write is 503';
like $r->{headers}{'retry-after'} // '', qr/^\d+$/, '... with Retry-After';
$f->psql_on(0, ['SET default_transaction_read_only = off',
    'ALTER SYSTEM RESET default_transaction_read_only',
    'SELECT pg_reload_conf()']);
read_only_is('off');
$until = time + 10;
my @ro;
while (time < $until) {
    $r = register($H[0], 'fleet-ro');
    push @ro, $r->{status};
    last if $r->{status} == 201;
    sleep 0.2;
}
is $ro[-1], 201, 'writable again: writes resume' or diag "@ro";
ok !grep({ $_ != 201 && $_ != 503 } @ro), '... only 503 before' or diag "@ro";

# Failover: the primary stopped, the replica promoted ----------------------

# a writer on each host, all the time: start, end, status, Retry-After, id
my $dir = $f->dir;
my @writers;
for my $i (0 .. 2) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open my $log, '>', "$dir/writer$i.log" or POSIX::_exit(1);
        $log->autoflush(1);
        until (-e "$dir/writers.stop") {
            my $s = time;
            my $x = register($H[$i], 'fleet-failover');
            printf $log "%.3f %.3f %d %s %s\n", $s, time, $x->{status},
                $x->{headers}{'retry-after'} // '-',
                ($x->{json} // {})->{id} // '-';
            sleep 0.05;
        }
        POSIX::_exit(0);
    }
    push @writers, $pid;
}
sub writes {
    my ($i) = @_;
    return map { [split] } split /\n/,
        Tickets::Test::_slurp("$dir/writer$i.log");
}
sub wait_writes {
    my ($pred, $timeout) = @_;
    my $end = time + $timeout;
    sleep 0.1 until time > $end
        || !grep { my $i = $_; !grep { $pred->($_) } writes($i) } 0 .. 2;
}

my @pid = map { Tickets::Test::_slurp($_->dir . '/nginx.pid') } @H;
wait_writes(sub { $_[0][2] == 201 }, 10);
$f->wait_replayed;
my $stopped = time;
$f->stop_primary;
# no primary for a second
wait_writes(sub { $_[0][2] == 503 && $_[0][0] > $stopped }, 5);
sleep 1;
my $t0 = time;
$f->promote;
my $promoted = time;
wait_writes(sub { $_[0][2] == 201 && $_[0][0] > $promoted }, 30);
Tickets::Test::_spew("$dir/writers.stop", '');
waitpid $_, 0 for @writers;

my (%statuses, @first, $n503, $ra, $longest, @acked);
for my $i (0 .. 2) {
    for my $w (writes($i)) {
        my ($s, $e, $st, $retry, $tid) = @$w;
        $statuses{$st}++;
        push @acked, $tid if $st == 201;
        $longest = $e - $s if !defined $longest || $e - $s > $longest;
        next unless $s > $stopped;
        if ($st == 503) { $n503++; $ra++ if $retry =~ /^\d+$/ }
        $first[$i] //= $e - $promoted if $st == 201 && $s > $promoted;
    }
}
diag sprintf 'failover: promote took %.2f s; the first write after it per'
    . ' host: %s s; %d answers 503 from the stop on (%d with'
    . ' Retry-After); the longest request %.2f s; statuses %s',
    $promoted - $t0, join(', ', map { sprintf '%.2f', $_ // -1 } @first),
    $n503 // 0, $ra // 0, $longest // 0,
    join(' ', map { "$_ x$statuses{$_}" } sort keys %statuses);
is scalar(grep { defined } @first), 3,
    'writes resume on all three hosts after the promotion';
ok $n503 && $n503 == $ra, 'without a primary: 503, each with Retry-After';
ok !grep({ $_ != 201 && $_ != 503 } keys %statuses),
    'only 201 or 503 all along';
cmp_ok $longest, '<', 8, 'no request hangs (connect_timeout=2 each host)';
is_deeply [map { Tickets::Test::_slurp($_->dir . '/nginx.pid') } @H], \@pid,
    '... without restarting nginx';
is get($H[2], $id, $tech1)->{status}, 200, 'reads too';
is $f->psql("SELECT count(*) FROM tickets WHERE id IN ("
    . join(',', @acked) . ')'), scalar @acked,
    'every acknowledged write (' . scalar(@acked) . ') is on the new'
    . ' primary';

unlike join('', map { $_->error_log } @H), qr/\[(?:alert|crit|emerg)\]/,
    'no alert in the error logs';

$f->stop;

done_testing;
