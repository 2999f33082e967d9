#!/usr/bin/perl

# SLA and auto-assignment over HTTP (SPEC 4, docs/sla.md): the due dates
# recomputed from createdOn on a priority change, on the business calendar
# or the wall clock as the policy says; auto-assignment on create and on
# update as the settings say, an explicit AssignedUser winning; and
# fairness: parallel clients through two nginx instances (two workers
# each) over one database leave no technician more than one ticket ahead,
# by round robin and by least load.

use strict;
use warnings;
use utf8;

use POSIX ();
use Test::More;
use Tickets::Test;

my $t = Tickets::Test->new->run(workers => 2);
my %uid = map { $_ => $t->user_id($_) }
    qw(admin tech1 tech2 tech3 member1);
my $admin = $t->token('admin');

my @BASE = (Description => 'Since Monday.', CreatorId => $uid{member1},
    SiteId => 1, DepartmentId => 1, TicketStatusId => 1,
    TicketType => 'Incident');

sub register {
    my ($title, @more) = @_;
    my $inst = ref $more[0] ? shift @more : $t;
    return $inst->form_post('/api/TicketsApi/register',
        [Title => $title, @BASE, @more], token => $admin);
}

sub registered {
    my ($title, @more) = @_;
    my $r = register($title, @more);
    is $r->{status}, 201, "register $title: 201" or diag $r->{content};
    return $r->{json} // {};
}

sub update {
    my ($id, @fields) = @_;
    return $t->form_post("/api/TicketsApi/update/$id", \@fields,
        token => $admin);
}

sub get { $t->http(GET => "/api/TicketsApi/$_[0]", token => $admin)->{json} }

sub q1 { scalar $t->psql($_[0]) }

# The due dates of sla_due for the ticket's createdOn and policy.
sub sla_due_of {
    my ($id, $policy) = @_;
    my ($resp, $res) = split /\|/, q1("SELECT iso_utc(d.response_due),"
        . " iso_utc(d.resolution_due) FROM tickets t, sla_due($policy,"
        . " t.created_on, t.sla_paused_seconds, t.sla_paused_minutes) d"
        . " WHERE t.id = $id");
    return { responseDueDate => $resp, dueDate => $res };
}

sub sla_is {
    my ($m, $policy, $name, $due, $response) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $want = sla_due_of($m->{id}, $policy);
    is_deeply { map { $_ => $m->{$_} } qw(dueDate responseDueDate) },
        $want, "$name: the due dates of sla_due($policy, createdOn)";
    is $m->{sla}{id}, $policy, "$name: policy $policy";
    is $m->{dueDate}, $due, "$name: dueDate $due" if $due;
    is $m->{responseDueDate}, $response,
        "$name: responseDueDate $response" if $response;
}

sub history_of {
    my ($id) = @_;
    return [map { join ':', $_->{field}, ($_->{old_value} // '~') . '>'
                  . ($_->{new_value} // '~') }
        $t->rows("SELECT field, old_value, new_value FROM history"
            . " WHERE ticket_id = $id AND field <> 'Created' ORDER BY id")];
}


# (a) SLA: a priority change recomputes from createdOn ----------------------

my $m = registered('Slow printer', TicketPriorityId => 1);
sla_is($m, 1, 'Low on create');
is $m->{sla}{name}, 'Low priority', 'sla {id, name}';
my $id = $m->{id};

# as if created on Friday 5 June 2026, 16:30 in Berlin: the due dates of
# docs/sla.md follow from createdOn, whenever the change is made
$t->psql("UPDATE tickets SET created_on = timestamp '2026-06-05 16:30'"
    . " AT TIME ZONE 'Europe/Berlin' WHERE id = $id");

my $r = update($id, TicketPriorityId => 4);
is $r->{status}, 204, 'to Urgent: 204' or diag $r->{content};
$m = get($id);
sla_is($m, 4, 'Urgent (wall clock, 15 and 240 minutes)',
    '2026-06-05T18:30:00Z', '2026-06-05T14:45:00Z');
is $m->{sla}{name}, 'Urgent priority', 'the policy by name';
is Tickets::Test::iso_epoch($m->{dueDate})
    - Tickets::Test::iso_epoch($m->{createdOn}), 240 * 60,
    'dueDate is createdOn + 240 minutes';
$t->ticket_ok($m, $id, 'Urgent: the model matches the database');
is_deeply [grep { /^(priority|sla):/ } @{history_of($id)}],
    ['priority:Low>Urgent', 'sla:Low priority>Urgent priority'],
    'history: priority and sla';
is scalar(grep { /^(dueDate|responseDueDate):/ } @{history_of($id)}), 2,
    'history: both due dates';

$r = update($id, TicketPriorityId => 1);
is $r->{status}, 204, 'back to Low: 204';
sla_is(get($id), 1, 'Low (business hours: Fri 30 min, the weekend off)',
    '2026-06-12T14:30:00Z', '2026-06-08T14:30:00Z');

$r = update($id, TicketPriorityId => 3);
sla_is(get($id), 3, 'High (Mon 09:30 and 16:30 CEST)',
    '2026-06-08T14:30:00Z', '2026-06-08T07:30:00Z');

# another field changed: the SLA stays; a manual DueDate stands
$r = update($id, TicketStatusId => 2, DueDate => '2031-01-01T00:00:00Z');
is get($id)->{dueDate}, '2031-01-01T00:00:00Z',
    'no priority change: a DueDate is taken as it is';
# the priority cleared: no policy, the response target goes
$r = update($id, TicketPriorityId => '');
$m = get($id);
is $m->{sla}, undef, 'no priority: no policy';
is $m->{responseDueDate}, undef, 'no policy: no responseDueDate';


# Settings: editable with ticketsctl ----------------------------------------

my ($rc) = $t->ctl(qw(setting set auto_assign_method Random));
isnt $rc, 0, 'ticketsctl refuses an unknown method';
$t->ctl_ok(qw(setting set auto_assign_method leastloaded));
is q1("SELECT value FROM settings WHERE key = 'auto_assign_method'"),
    'LeastLoaded', 'the method is stored as spelt in SPEC';
$t->ctl_ok(qw(setting set auto_assign_method RoundRobin));


# (c) An explicit AssignedUser wins -----------------------------------------

$t->ctl_ok(qw(setting set auto_assign_on_create true));
$t->ctl_ok(qw(setting set auto_assign_on_update true));

# tech3 is not of Service Desk: given, kept
$m = registered('Given', GroupId => 1, AssignedUser => $uid{tech3});
is $m->{assignee}{id}, $uid{tech3}, 'AssignedUser given: kept';
is q1("SELECT count(*) FROM assignment_cursors"), 0,
    'the cursor is not moved';
is q1("SELECT count(*) FROM outbox WHERE ticket_id = $m->{id}"
    . " AND event = 'TicketAssigned' AND NOT payload ? 'assignedBy'"
    . " AND recipients && ARRAY['tech3\@example.com', '$uid{tech3}']"), 2,
    'the email and push of the given technician';

$r = update($m->{id}, AssignedUser => '');
is $r->{status}, 204, 'cleared: 204';
is get($m->{id})->{assignee}, undef, 'cleared by the update: it stays so';


# (d) On update -------------------------------------------------------------

$t->ctl_ok(qw(setting set auto_assign_on_create false));

$m = registered('Router down', GroupId => 2);
is $m->{assignee}, undef, 'on create off: unassigned';
$id = $m->{id};

$r = update($id, TicketStatusId => 2);
is $r->{status}, 204, 'update: 204';
is $r->{headers}{etag}, "\"$id-2\"", 'one version for the update and the'
    . ' assignment';
$m = get($id);
is $m->{assignee}{id}, $uid{tech3}, 'assigned on update: Network has tech3';
$t->ticket_ok($m, $id, 'on update: the model matches the database');
is_deeply history_of($id), ['status:Open>In Progress',
    'assignee:~>Nick Network'], 'history: the change, then the assignment';
is_deeply [$t->psql("SELECT channel || ' ' || array_to_string(recipients,"
    . " ',') || ' ' || (payload->>'assignedBy') FROM outbox"
    . " WHERE ticket_id = $id AND event = 'TicketAssigned'"
    . " ORDER BY channel")],
    ["email tech3\@example.com auto", "push $uid{tech3} auto"],
    'the TicketAssigned email and push, assigned by "auto"';

# an update of an assigned ticket leaves it alone
$r = update($id, TicketStatusId => 1);
is get($id)->{assignee}{id}, $uid{tech3}, 'assigned: left alone';

$t->ctl_ok(qw(setting set auto_assign_on_update false));
$m = registered('Off', GroupId => 2);
update($m->{id}, TicketStatusId => 2);
is get($m->{id})->{assignee}, undef, 'on update off: unassigned';


# (b) Fairness: parallel clients, two nginx instances, one database ----------

$t->ctl_ok(qw(setting set auto_assign_on_create true));

my $t2 = Tickets::Test->new(pg_from => $t)->run(workers => 2);
is $t2->http(GET => '/api/health')->{status}, 200,
    'a second nginx over the same database';

my $N       = 40;
my $CLIENTS = 8;

# CLIENTS processes at once, half of them on each instance, N tickets in
# Service Desk (tech1, tech2) titled $title; the failures.
sub parallel_creates {
    my ($title) = @_;
    my @pids;
    for my $c (0 .. $CLIENTS - 1) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my $inst = $c % 2 ? $t2 : $t;
            my $ok = 1;
            for (1 .. $N / $CLIENTS) {
                my $r = register($title, $inst, GroupId => 1);
                $ok &&= $r->{status} == 201 && $r->{json}{assignee};
            }
            # no END blocks: the servers are the parent's
            POSIX::_exit($ok ? 0 : 1);
        }
        push @pids, $pid;
    }
    my $failed = 0;
    for (@pids) {
        waitpid $_, 0;
        $failed++ if $?;
    }
    return $failed;
}

sub counts {
    my ($where) = @_;
    return { map { split /\|/ } $t->psql("SELECT u.user_name, count(t.id)"
        . " FROM users u LEFT JOIN tickets t ON t.assignee_id = u.id"
        . " AND $where WHERE u.user_name IN ('tech1', 'tech2')"
        . " GROUP BY u.user_name") };
}

# the active load, as LeastLoaded counts it
my $ACTIVE = "NOT t.is_deleted AND t.status_id IN (SELECT id FROM statuses"
    . " WHERE status_type IN ('Open', 'OnHold', 'Pending'))";

is parallel_creates('fair-rr'), 0, "RoundRobin: $N creates by $CLIENTS"
    . ' clients, each answered 201 with an assignee';
my $rr = counts("t.title = 'fair-rr'");
diag "RoundRobin: tech1 $rr->{tech1}, tech2 $rr->{tech2}";
is $rr->{tech1} + $rr->{tech2}, $N, "RoundRobin: all $N assigned";
ok abs($rr->{tech1} - $N / 2) <= 1 && abs($rr->{tech2} - $N / 2) <= 1,
    'RoundRobin: ' . $N / 2 . ' ± 1 each';
is q1("SELECT count(*) FROM outbox o JOIN tickets t ON t.id = o.ticket_id"
    . " WHERE t.title = 'fair-rr' AND o.event = 'TicketAssigned'"
    . " AND o.payload->>'assignedBy' = 'auto'"), 2 * $N,
    'RoundRobin: an email and a push each';
for ([$t, 'first'], [$t2, 'second']) {
    my ($inst, $name) = @{$_};
    my $log = Tickets::Test::_slurp($inst->dir . '/access.log');
    my $served = () = $log =~ m{"POST /api/TicketsApi/register[^"]*" 201}g;
    cmp_ok $served, '>=', $N / 2, "the $name instance created its half";
}

$t->ctl_ok(qw(setting set auto_assign_method LeastLoaded));
my $before = counts($ACTIVE);
is parallel_creates('fair-ll'), 0, "LeastLoaded: $N creates by $CLIENTS"
    . ' clients';
my $after = counts($ACTIVE);
my $ll = counts("t.title = 'fair-ll'");
diag "LeastLoaded: active before tech1 $before->{tech1}, tech2"
    . " $before->{tech2}; new tech1 $ll->{tech1}, tech2 $ll->{tech2};"
    . " after tech1 $after->{tech1}, tech2 $after->{tech2}";
is $ll->{tech1} + $ll->{tech2}, $N, "LeastLoaded: all $N assigned";
my $total = $before->{tech1} + $before->{tech2} + $N;
is_deeply [sort { $a <=> $b } $after->{tech1}, $after->{tech2}],
    [POSIX::floor($total / 2), POSIX::ceil($total / 2)],
    'LeastLoaded: the active loads end at most one apart';

# even loads, and then round numbers: N / 2 ± 1 each, as round robin
$t->psql("UPDATE tickets SET status_id = 5 WHERE assignee_id IN"
    . " ('$uid{tech1}', '$uid{tech2}')");
is parallel_creates('fair-ll2'), 0, 'LeastLoaded from even loads';
$ll = counts("t.title = 'fair-ll2'");
diag "LeastLoaded from 0 and 0: tech1 $ll->{tech1}, tech2 $ll->{tech2}";
ok abs($ll->{tech1} - $N / 2) <= 1 && abs($ll->{tech2} - $N / 2) <= 1,
    'LeastLoaded: ' . $N / 2 . ' ± 1 each';

$t2->stop;

done_testing;
