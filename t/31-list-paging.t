#!/usr/bin/perl

# GET /api/TicketsApi against an oracle: for every list type, as a
# Technician and as a Member, in every sort and order, with and without a
# search, paging through the whole list gives exactly the tickets a plain
# SQL statement of SPEC 3.1's definitions gives, in its order, no ticket
# twice; and X-Total-Count and Link follow tickets_list_count_limit and
# tickets_search_count_limit (5 here, so that every way the library finds
# a page and counts, and the lower bound past the limit, are exercised on
# a few dozen tickets).

use strict;
use warnings;

use Test::More;
use Tickets::Test;

my $LIMIT = 5;
my $t = Tickets::Test->new(http_extra =>
    "    tickets_list_count_limit $LIMIT;\n"
    . "    tickets_search_count_limit $LIMIT;\n")->run;
my $LIST = '/api/TicketsApi';
my $q = \&Tickets::Test::quote;

$t->psql(q{INSERT INTO users (user_name, email, full_name, role, time_zone)
    VALUES ('pg_tech', 'pg.tech@example.org', 'Pia Pager', 'Technician',
            'Asia/Tokyo'),
           ('pg_other', 'pg.other@example.org', 'Olaf Pager', 'Technician',
            NULL),
           ('pg_mem', 'pg.mem@example.org', 'Mats Member', 'Member', NULL)});
my %uid = map { $_ => $t->user_id($_) } qw(pg_tech pg_other pg_mem);
my %tok = map { $_ => $t->token($_) } qw(pg_tech pg_mem);
my ($g1) = $t->psql(q{INSERT INTO groups (name) VALUES ('PG group'),
    ('PG elsewhere') RETURNING id});
$t->psql("INSERT INTO group_members VALUES ($g1, " . $q->($uid{pg_tech})
    . ')');

# 96 tickets: every requester x assignee pairing, each status, escalated
# or not, due dates past, today (Tokyo), future and unset, priorities and
# groups in turn, ties in created_on and updated_on, some deleted; tasks
# on some.  Deterministic, so that a failure is repeatable.
my @REQ = ('pg_tech', 'pg_mem', 'pg_other');
my @ASS = ('pg_tech', 'pg_other', undef);
my @STATUS = (1, 3, 4, 5, 6, 7);
my $DAY0 = "(date_trunc('day', now() AT TIME ZONE 'Asia/Tokyo')"
    . " AT TIME ZONE 'Asia/Tokyo')";
my @DUE = ('NULL', "now() - interval '3 days'", "$DAY0 + interval '1 hour'",
    "now() + interval '5 days'");
my @values;
for my $i (0 .. 95) {
    my $req = $uid{$REQ[$i % 3]};
    my $ass = $ASS[int($i / 3) % 3];
    my $esc = $i % 5 == 0;
    my $del = $i % 17 == 3;
    push @values, '(' . join(', ',
        $q->("PG ticket $i" . ($i % 4 == 0 ? ' docking' : '')), "'x'",
        $q->($req), defined $ass ? $q->($uid{$ass}) : 'NULL', $q->($req),
        1, 1, ($i % 4 ? $g1 : $g1 + 1), $STATUS[$i % 6],
        ($i % 5 == 4 ? 'NULL' : $i % 4 + 1), $DUE[$i % 4],
        ($esc ? 'true, now()' : 'false, NULL'),
        ($del ? 'true, now()' : 'false, NULL'),
        "now() - interval '" . int($i / 2) . " hours'",
        "now() - interval '" . ($i % 7) . " minutes'") . ')';
}
my @ids = $t->psql('INSERT INTO tickets (title, description, requester_id,'
    . ' assignee_id, created_by_id, site_id, department_id, group_id,'
    . ' status_id, priority_id, due_date, is_escalated, escalated_on,'
    . ' is_deleted, deleted_on, created_on, updated_on) VALUES '
    . join(', ', @values) . ' RETURNING id');
is scalar @ids, 96, '96 tickets';
for my $i (grep { $_ % 3 == 1 } 0 .. 95) {
    my $who = $i % 2 ? 'pg_tech' : 'pg_other';
    $t->psql('INSERT INTO tasks (ticket_id, title, assigned_user_id,'
        . ' is_completed, completed_on, created_by_id) VALUES'
        . " ($ids[$i], 'a task', " . $q->($uid{$who})
        . ($i % 4 == 1 ? ', true, now()' : ', false, NULL') . ', '
        . $q->($uid{$who}) . ')');
}

# The oracle: SPEC 3.1 in plain SQL, for the user $1.
my $ACTIVE = "s.status_type IN ('Open', 'OnHold', 'Pending')";
my $MINE = '(t.requester_id = $1 OR t.assignee_id = $1)';
my $TODAY = "t.due_date >= (date_trunc('day', now() AT TIME ZONE z.z)"
    . " AT TIME ZONE z.z) AND t.due_date < (date_trunc('day', now() AT"
    . " TIME ZONE z.z) + interval '1 day') AT TIME ZONE z.z";
my %ORACLE = (
    AllMyGroups => 't.group_id IN (SELECT group_id FROM group_members'
        . ' WHERE user_id = $1)',
    MyOpenOrUnassigned => "s.status_type = 'Open' AND ($MINE"
        . ' OR t.assignee_id IS NULL)',
    UnassignedTickets => "t.assignee_id IS NULL AND $ACTIVE",
    MyOpenTickets => "s.status_type = 'Open' AND $MINE",
    MyTicketsOnhold => "s.status_type = 'OnHold' AND $MINE",
    MyOverdueTickets => "t.due_date < now() AND $ACTIVE AND $MINE",
    MyPendingTickets => "s.status_type = 'Pending' AND $MINE",
    MyTicketsDueToday => "$TODAY AND $ACTIVE AND $MINE",
    MyEscalated => "t.is_escalated AND $MINE",
    AllEscalated => 't.is_escalated',
    MyCompletedTickets => "s.status_type IN ('Resolved', 'Closed')"
        . " AND $MINE",
    AllMyTickets => $MINE,
    MyOpenTasks => 'EXISTS (SELECT FROM tasks k WHERE k.ticket_id = t.id'
        . ' AND k.assigned_user_id = $1 AND NOT k.is_completed)',
    MyCompletedTasks => 'EXISTS (SELECT FROM tasks k WHERE k.ticket_id ='
        . ' t.id AND k.assigned_user_id = $1 AND k.is_completed)',
    TicketsOnHold => "s.status_type = 'OnHold'",
    OverdueTickets => "t.due_date < now() AND $ACTIVE",
    TicketsDueToday => "$TODAY AND $ACTIVE",
    PendingTickets => "s.status_type = 'Pending'",
    CompletedTickets => "s.status_type IN ('Resolved', 'Closed')",
    AllTickets => 'true',
);
my %KEY = (id => undef, createdOn => 't.created_on',
    updatedOn => 't.updated_on', dueDate => 't.due_date',
    priority => 'p.rank');

sub oracle {
    my ($user, $list, $sort, $order, $search) = @_;
    my $u = $q->($uid{$user});
    my $where = $ORACLE{$list} =~ s/\$1/$u/gr;
    $where .= " AND t.requester_id = $u" if $user eq 'pg_mem';
    if (defined $search) {
        my $pat = $q->("%$search%");
        $where .= " AND (t.title ILIKE $pat OR p.name ILIKE "
            . $q->($search) . " OR r.full_name ILIKE $pat"
            . " OR r.user_name ILIKE $pat OR r.email ILIKE $pat"
            . ($search =~ /^#?(\d+)$/ ? " OR t.id = $1" : '') . ')';
    }
    my $dir = $order eq 'desc' ? 'DESC' : 'ASC';
    my $by = defined $KEY{$sort} ? "$KEY{$sort} $dir NULLS LAST, " : '';
    return [$t->psql('SELECT t.id FROM tickets t'
        . ' JOIN statuses s ON s.id = t.status_id'
        . ' JOIN users r ON r.id = t.requester_id'
        . ' LEFT JOIN priorities p ON p.id = t.priority_id'
        . " CROSS JOIN user_time_zone($u) z (z)"
        . " WHERE NOT t.is_deleted AND ($where) ORDER BY ${by}t.id $dir")];
}

sub get {
    my ($user, %a) = @_;
    my $qs = join '&', map { "$_=" . Tickets::Test::urlencode($a{$_}) }
        sort keys %a;
    return $t->http(GET => "$LIST?$qs", token => $tok{$user});
}

# Every page of a list, and what each page said; failures as diagnostics.
sub walk {
    my ($user, $want, %a) = @_;
    # small pages, fewer of them on the long lists
    my $size = $a{pageSize} //= @$want > 30 ? 11 : 3;
    my $n = @$want;
    my (@got, @bad);
    for (my $page = 1; $page <= int($n / $size) + 1; $page++) {
        my $r = get($user, %a, page => $page);
        if ($r->{status} != 200) {
            push @bad, "page $page: $r->{status} $r->{content}";
            last;
        }
        push @got, map { $_->{id} } @{$r->{json} // []};
        my $bound = $LIMIT > $page * $size ? $LIMIT : $page * $size;
        my ($total, $exact) = $n > $bound ? ($bound, 'false') : ($n, 'true');
        my $h = $r->{headers};
        push @bad, "page $page: X-Total-Count $h->{'x-total-count'},"
            . " want $total" if ($h->{'x-total-count'} // '') ne $total;
        push @bad, "page $page: X-Total-Count-Exact "
            . ($h->{'x-total-count-exact'} // 'none') . ", want $exact"
            if ($h->{'x-total-count-exact'} // '') ne $exact;
        my $next = ($h->{link} // '') =~ /rel="next"/ ? 1 : 0;
        my $more = $n > $page * $size ? 1 : 0;
        push @bad, "page $page: Link next $next, want $more"
            if $next != $more;
    }
    return (\@got, \@bad);
}

my ($lists, $combos) = (0, 0);
for my $user (qw(pg_tech pg_mem)) {
    for my $list (sort keys %ORACLE) {
        my @bad;
        for my $sort (sort keys %KEY) {
            for my $order (qw(asc desc)) {
                my %a = (listType => $list, sort => $sort, order => $order);
                my $want = oracle($user, $list, $sort, $order);
                my ($got, $bad) = walk($user, $want, %a);
                $combos++;
                push @bad, map { "$sort $order: $_" } @$bad;
                push @bad, "$sort $order: got [@$got], want [@$want]"
                    unless "@$got" eq "@$want";
            }
        }
        ok !@bad, "$user $list: every sort and order, every page"
            or diag join "\n", @bad;
        $lists++;
    }
}

# Search: the ADAPTIVE way (the matches collected while fewer than the
# limit, else the walk), on a word every fourth title has, a requester,
# a priority and a ticket id.
for my $user (qw(pg_tech pg_mem)) {
    for my $list (sort keys %ORACLE) {
        my @bad;
        for my $search ('docking', 'Pager', 'urgent', "#$ids[40]") {
            for my $sort (qw(id dueDate)) {
                my %a = (listType => $list, sort => $sort, order => 'desc',
                    pageSize => 2, search => $search);
                my $want = oracle($user, $list, $sort, 'desc', $search);
                my ($got, $bad) = walk($user, $want, %a);
                $combos++;
                push @bad, map { "'$search' $sort: $_" } @$bad;
                push @bad, "'$search' $sort: got [@$got], want [@$want]"
                    unless "@$got" eq "@$want";
            }
        }
        ok !@bad, "$user $list: search, every page" or diag join "\n", @bad;
    }
}

# The limit is a floor, not a ceiling, for a page past it: page 4 of 3
# counts to 12 and says whether more follow.
{
    my $n = scalar @{oracle('pg_tech', 'AllTickets', 'id', 'desc')};
    my $r = get('pg_tech', listType => 'AllTickets', pageSize => 3, page => 4);
    is $r->{headers}{'x-total-count'}, 12, 'page 4 of 3: counted to 12';
    is $r->{headers}{'x-total-count-exact'}, 'false', 'and more follow';
    ok $n > 12, "($n tickets)";
    $r = get('pg_tech', listType => 'AllTickets', pageSize => 100, page => 2);
    is $r->{headers}{'x-total-count'}, $n, 'page 2 of 100: exact';
    is $r->{headers}{'x-total-count-exact'}, 'true', 'X-Total-Count-Exact';
}

# A ticket deleted through the API leaves the task lists at once (the
# task keeps its ticket's state: sql/006_task_lists.sql).
{
    my ($tid) = $t->psql('SELECT k.ticket_id FROM tasks k JOIN tickets t'
        . ' ON t.id = k.ticket_id WHERE NOT t.is_deleted AND'
        . ' k.assigned_user_id = ' . $q->($uid{pg_tech})
        . ' ORDER BY k.ticket_id DESC LIMIT 1');
    my $list = $t->psql("SELECT CASE WHEN is_completed THEN"
        . " 'MyCompletedTasks' ELSE 'MyOpenTasks' END FROM tasks"
        . " WHERE ticket_id = $tid LIMIT 1");
    my $ids = sub { [map { $_->{id} } @{get('pg_tech', listType => $list,
        pageSize => 100)->{json} // []}] };
    ok((grep { $_ == $tid } @{$ids->()}), "$list has ticket $tid");
    my $r = $t->http(DELETE => "$LIST/$tid", token => $t->token('admin'));
    is $r->{status}, 200, "ticket $tid deleted" or diag $r->{content};
    ok !(grep { $_ == $tid } @{$ids->()}), "$list has it no more";
    is_deeply $ids->(), oracle('pg_tech', $list, 'id', 'desc'),
        "$list: as the oracle";
}

note "$lists lists, $combos combinations paged through";

# nginx -t refuses a negative limit.
{
    my ($ok, $out) = $t->nginx_t(http_extra =>
        "    tickets_list_count_limit -1;\n");
    ok !$ok, 'tickets_list_count_limit -1: nginx -t fails';
    like $out, qr/tickets_list_count_limit/, 'naming the directive';
    ($ok, $out) = $t->nginx_t(http_extra =>
        "    tickets_search_count_limit -1;\n");
    ok !$ok, 'tickets_search_count_limit -1: nginx -t fails';
    like $out, qr/tickets_search_count_limit/, 'naming the directive';
}

done_testing;
