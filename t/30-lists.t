#!/usr/bin/perl

# GET /api/TicketsApi: each list type's membership on crafted tickets, a
# Member's scoping, "today" in the user's time zone, search, paging with
# X-Total-Count and Link, sort, and the 400s (SPEC 3.1).

use strict;
use warnings;
use utf8;

use Test::More;
use Tickets::Test;

my $t = Tickets::Test->new->run;
my $LIST = '/api/TicketsApi';
my $ZONE = 'Pacific/Kiritimati';        # UTC+14: its day is never UTC's
my $P = 'LT ';                          # every crafted title starts so

my $q = \&Tickets::Test::quote;

# Users: lt_tech (in group "LT group", in Kiritimati), lt_other, two
# Members.
$t->psql(q{INSERT INTO users (user_name, email, full_name, role, time_zone)
    VALUES ('lt_tech', 'lt.tech@example.org', 'Lara Listtech', 'Technician',
            '} . $ZONE . q{'),
           ('lt_other', 'lt.other@example.org', 'Otto Other', 'Technician',
            NULL),
           ('lt_mem', 'lt.mem@example.org', 'Mina Listmember', 'Member',
            NULL),
           ('lt_mem2', 'lt.mem2@example.org', 'Moe Second', 'Member', NULL)});
my %uid = map { $_ => $t->user_id($_) } qw(lt_tech lt_other lt_mem lt_mem2);
my %tok = map { $_ => $t->token($_) } qw(lt_tech lt_other lt_mem admin);
my ($g1) = $t->psql(q{INSERT INTO groups (name) VALUES ('LT group'),
    ('LT elsewhere') RETURNING id});
$t->psql("INSERT INTO group_members VALUES ($g1, " . $q->($uid{lt_tech})
    . ')');
my $g2 = $g1 + 1;

# The start of lt_tech's day, in SQL.
my $DAY0 = "(date_trunc('day', now() AT TIME ZONE '$ZONE')"
    . " AT TIME ZONE '$ZONE')";

# A due date of lt_tech's today that is not today in UTC: 00:01 there is
# the day before in UTC when Kiritimati is a day ahead, else 23:59:59 there
# is the day after.
my $TODAY_NOT_UTC = "CASE WHEN (($DAY0 + interval '1 minute') AT TIME ZONE"
    . " 'UTC')::date <> (now() AT TIME ZONE 'UTC')::date"
    . " THEN $DAY0 + interval '1 minute'"
    . " ELSE $DAY0 + interval '1 day' - interval '1 second' END";

# Statuses of the demo: 1 Open, 3 On Hold, 4 Pending, 5 Resolved, 6 Closed,
# 7 Reopened (Open).  Priorities: 1 Low .. 4 Urgent.
my %T;
sub ticket {
    my ($name, %a) = @_;
    my $req = $uid{$a{req} // 'lt_mem2'};
    my $ass = defined $a{ass} ? $q->($uid{$a{ass}}) : 'NULL';
    $T{$name} = $t->psql('INSERT INTO tickets (title, description,'
        . ' requester_id, assignee_id, created_by_id, site_id,'
        . ' department_id, group_id, status_id, priority_id, due_date,'
        . ' is_escalated, escalated_on, is_deleted, deleted_on, created_on)'
        . ' VALUES (' . $q->("$P$name") . ", 'crafted', " . $q->($req)
        . ", $ass, " . $q->($req) . ', 1, 1, '
        . ($a{group} // 'NULL') . ', ' . ($a{status} // 1) . ', '
        . ($a{priority} // 'NULL') . ', ' . ($a{due} // 'NULL') . ', '
        . ($a{esc} ? 'true, now()' : 'false, NULL') . ', '
        . ($a{deleted} ? 'true, now()' : 'false, NULL') . ', '
        . "now() - interval '" . ($a{age} // 1) . " hours') RETURNING id");
    return $T{$name};
}

ticket('group mine', req => 'lt_mem', ass => 'lt_tech', group => $g1,
    due => "now() + interval '3 days'", priority => 3, age => 30);
ticket('group other', ass => 'lt_other', group => $g2, priority => 1,
    age => 29);
ticket('unassigned open', status => 1, age => 28);
ticket('unassigned closed', status => 6, age => 27);
ticket('on hold mine', req => 'lt_tech', ass => 'lt_other', status => 3,
    age => 26);
ticket('on hold other', req => 'lt_mem', ass => 'lt_other', status => 3,
    age => 25);
ticket('pending mine', req => 'lt_mem', ass => 'lt_tech', status => 4,
    due => "now() - interval '2 days'", age => 24);
ticket('pending other', status => 4, age => 23);
ticket('overdue other', ass => 'lt_other', due => "now() - interval '2 days'",
    age => 22);
ticket('resolved mine', req => 'lt_mem', ass => 'lt_tech', status => 5,
    due => "now() - interval '2 days'", age => 21);
ticket('due today mine', req => 'lt_mem', ass => 'lt_tech', status => 7,
    due => $TODAY_NOT_UTC, age => 20);
ticket('due today other', ass => 'lt_other', status => 3,
    due => $TODAY_NOT_UTC, age => 19);
ticket('due tomorrow', ass => 'lt_tech', due => "$DAY0 + interval '1 day'",
    age => 18);
ticket('due today closed', req => 'lt_tech', status => 6,
    due => $TODAY_NOT_UTC, age => 17);
ticket('escalated mine', req => 'lt_mem', ass => 'lt_tech', esc => 1,
    priority => 4, age => 16);
ticket('escalated other', ass => 'lt_other', esc => 1, age => 15);
ticket('task open', ass => 'lt_other', age => 14);
ticket('task done', ass => 'lt_other', status => 6, age => 13);
ticket('task other', ass => 'lt_other', age => 12);
ticket('deleted', req => 'lt_tech', ass => 'lt_tech', group => $g1,
    esc => 1, due => $TODAY_NOT_UTC, deleted => 1, age => 11);
ticket('100%_off', req => 'lt_mem', ass => 'lt_other', priority => 2,
    age => 10);
for (['task open', 'lt_tech', 0], ['task open', 'lt_other', 1],
     ['task done', 'lt_tech', 1], ['task other', 'lt_other', 0],
     ['deleted', 'lt_tech', 0])
{
    my ($ticket, $user, $done) = @$_;
    $t->psql('INSERT INTO tasks (ticket_id, title, assigned_user_id,'
        . ' is_completed, completed_on, created_by_id) VALUES'
        . " ($T{$ticket}, 'a task', " . $q->($uid{$user})
        . ($done ? ', true, now()' : ', false, NULL') . ', '
        . $q->($uid{$user}) . ')');
}
my $NCRAFTED = keys(%T) - 1;
my %NAME = reverse %T;

# GET with query arguments [name, value, ...] as token: the response.
sub list {
    my ($token, @args) = @_;
    my $qs = join '&', map { Tickets::Test::urlencode($args[2 * $_]) . '='
        . Tickets::Test::urlencode($args[2 * $_ + 1]) } 0 .. @args / 2 - 1;
    return $t->http(GET => $LIST . (length $qs ? "?$qs" : ''),
        token => $tok{$token});
}

# The names of the crafted tickets of a list, in its order; every page.
sub crafted {
    my ($token, @args) = @_;
    my @names;
    for (my $page = 1; ; $page++) {
        my $r = list($token, @args, pageSize => 100, page => $page);
        is $r->{status}, 200, "@args: 200" or diag $r->{content};
        my $items = ref $r->{json} eq 'ARRAY' ? $r->{json} : [];
        push @names, map { $NAME{$_->{id}} // () } @$items;
        last if @$items < 100;
    }
    return \@names;
}

# For lt_tech: [list type, crafted tickets in (sorted), one out].
my @MEMBERSHIP = (
    ['AllMyGroups', ['group mine'], 'group other'],
    ['MyOpenOrUnassigned', ['due today mine', 'due tomorrow',
        'escalated mine', 'group mine', 'unassigned open'], 'group other'],
    ['UnassignedTickets', ['pending other', 'unassigned open'],
        'unassigned closed'],
    ['MyOpenTickets', ['due today mine', 'due tomorrow', 'escalated mine',
        'group mine'], 'on hold mine'],
    ['MyTicketsOnhold', ['on hold mine'], 'on hold other'],
    ['MyOverdueTickets', ['pending mine', defined_overdue('due today mine')],
        'resolved mine'],
    ['MyPendingTickets', ['pending mine'], 'pending other'],
    ['MyTicketsDueToday', ['due today mine'], 'due today closed'],
    ['MyEscalated', ['escalated mine'], 'escalated other'],
    ['AllEscalated', ['escalated mine', 'escalated other'], 'deleted'],
    ['MyCompletedTickets', ['due today closed', 'resolved mine'],
        'unassigned closed'],
    ['AllMyTickets', ['due today closed', 'due today mine', 'due tomorrow',
        'escalated mine', 'group mine', 'on hold mine', 'pending mine',
        'resolved mine'], 'group other'],
    ['MyOpenTasks', ['task open'], 'task done'],
    ['MyCompletedTasks', ['task done'], 'task open'],
    ['TicketsOnHold', ['due today other', 'on hold mine', 'on hold other'],
        'group mine'],
    ['OverdueTickets', ['overdue other', 'pending mine',
        defined_overdue('due today mine'), defined_overdue('due today other')],
        'resolved mine'],
    ['TicketsDueToday', ['due today mine', 'due today other'],
        'due tomorrow'],
    ['PendingTickets', ['pending mine', 'pending other'], 'on hold other'],
    ['CompletedTickets', ['due today closed', 'resolved mine', 'task done',
        'unassigned closed'], 'group mine'],
    ['AllTickets', [grep { $_ ne 'deleted' } sort keys %T], 'deleted'],
);

# A ticket due today is overdue once its time has passed.
sub defined_overdue {
    my ($name) = @_;
    return scalar $t->psql("SELECT due_date < now() FROM tickets"
        . " WHERE id = $T{$name}") eq 't' ? $name : ();
}

for my $m (@MEMBERSHIP) {
    my ($type, $in, $out) = @$m;
    my $all = crafted('lt_tech', listType => $type);
    is_deeply [sort @$all], [sort @$in], "$type: exactly its crafted tickets";
    ok !grep({ $_ eq $out } @$all), "$type: not '$out'";
    ok !grep({ $_ eq 'deleted' } @$all), "$type: never a deleted ticket";
    my $found = crafted('lt_tech', listType => $type, search => $P,
        searchFields => 'Subject');
    is_deeply $found, $all, "$type: the same with a search (scoped)";
}

# A Member: every list limited to the tickets they requested.
{
    my $all = crafted('lt_mem', listType => 'AllTickets');
    is_deeply [sort @$all], [sort grep { $_ ne 'deleted' }
        map { $NAME{$_} } $t->psql('SELECT id FROM tickets WHERE'
        . ' requester_id = ' . $q->($uid{lt_mem}))],
        'Member AllTickets: their own tickets';
    my $r = list('lt_mem', listType => 'AllTickets', pageSize => 100);
    ok !grep({ $_->{requesterId} ne $uid{lt_mem} } @{$r->{json}}),
        'Member AllTickets: no other requester, demo tickets included';
    is_deeply crafted('lt_mem', listType => 'AllEscalated'),
        ['escalated mine'], 'Member AllEscalated: only theirs';
    is_deeply crafted('lt_mem', listType => 'TicketsOnHold'),
        ['on hold other'], 'Member TicketsOnHold: only theirs';
    is_deeply crafted('lt_mem', listType => 'UnassignedTickets'), [],
        'Member UnassignedTickets: none of theirs';
    is_deeply crafted('lt_mem', listType => 'AllTickets',
        search => $T{'group other'}, searchFields => 'TicketId'), [],
        "Member: another's ticket is not found by its id";
    is_deeply [sort @{crafted('lt_tech', listType => 'TicketsOnHold')}],
        ['due today other', 'on hold mine', 'on hold other'],
        'staff TicketsOnHold: everyone\'s';
}

# "today" is the day in the user's time zone, else the system's.
{
    my $utc = crafted('lt_other', listType => 'TicketsDueToday');
    ok !grep({ /^due today/ } @$utc),
        'TicketsDueToday in UTC: not the tickets due today in Kiritimati';
    ok grep({ $_ eq 'due today mine' }
            @{crafted('lt_tech', listType => 'TicketsDueToday')}),
        'TicketsDueToday in Kiritimati: due today there';
    $t->psql('UPDATE users SET time_zone = NULL WHERE user_name = '
        . "'lt_tech'");
    ok !grep({ $_ eq 'due today mine' }
             @{crafted('lt_tech', listType => 'MyTicketsDueToday')}),
        'without a zone of their own: the system\'s (UTC)';
    $t->psql("UPDATE settings SET value = '$ZONE' WHERE key = 'time_zone'");
    is_deeply crafted('lt_tech', listType => 'MyTicketsDueToday'),
        ['due today mine'], 'the system zone set to Kiritimati';
    is_deeply crafted('lt_other', listType => 'TicketsDueToday'),
        ['due today other', 'due today mine'],
        'the system zone is everyone\'s without one';
    $t->psql("UPDATE settings SET value = 'UTC' WHERE key = 'time_zone'");
    $t->psql("UPDATE users SET time_zone = '$ZONE' WHERE user_name ="
        . " 'lt_tech'");
}

# The answer: TicketList items, JSON, X-Total-Count.
{
    my $r = list('lt_tech', listType => 'AllTickets',
        search => "#$T{'group mine'}", searchFields => 'TicketId');
    is $r->{status}, 200, 'one ticket: 200';
    like $r->{headers}{'content-type'} // '',
        qr{^application/json;\s*charset=utf-8$}i, 'application/json';
    is $r->{headers}{'x-total-count'}, 1, 'X-Total-Count: 1';
    ok !exists $r->{headers}{link}, 'a single page: no Link';
    my $j = $r->{json}[0] // {};
    is_deeply [sort keys %$j], [sort qw(id subject ticketType source status
        statusType priority requester requesterId assignedTo assignedToId
        group category site dueDate isOverdue isEscalated openTasks
        createdOn updatedOn)], 'the keys of a TicketList';
    is_deeply [@$j{qw(id subject status statusType priority requester
        requesterId assignedTo assignedToId group site)}],
        [$T{'group mine'}, "${P}group mine", 'Open', 'Open', 'High',
         'Mina Listmember', $uid{lt_mem}, 'Lara Listtech', $uid{lt_tech},
         'LT group', 'Headquarters'], 'its values';
    like $j->{dueDate} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
        'dueDate in UTC with Z';
    ok JSON::PP::is_bool($j->{isOverdue}) && !$j->{isOverdue},
        'isOverdue false';
    is $j->{openTasks}, 0, 'openTasks 0';
    is $j->{category}, undef, 'no category: null';

    $j = list('lt_tech', listType => 'AllTickets', search => $T{'task open'},
        searchFields => 'TicketId')->{json}[0] // {};
    is $j->{openTasks}, 1, 'openTasks counts the open tasks';
    is $j->{assignedTo}, 'Otto Other', 'assignedTo: the full name';
    $j = list('lt_tech', listType => 'AllTickets',
        search => $T{'unassigned open'}, searchFields => 'TicketId')
        ->{json}[0] // {};
    is_deeply [@$j{qw(assignedTo assignedToId priority dueDate group)}],
        [undef, undef, undef, undef, undef], 'unset values: null';
    $j = list('lt_tech', listType => 'AllTickets',
        search => $T{'overdue other'}, searchFields => 'TicketId')
        ->{json}[0] // {};
    ok $j->{isOverdue}, 'isOverdue true when past due and active';

    $r = list('lt_tech', listType => 'AllTickets', search => 'no such thing');
    is $r->{content}, '[]', 'nothing: []';
    is $r->{headers}{'x-total-count'}, 0, 'X-Total-Count: 0';

    # the default list is AllMyTickets; names in any case
    is_deeply crafted('lt_tech'),
        crafted('lt_tech', listType => 'AllMyTickets'),
        'default: AllMyTickets';
    $r = $t->http(GET => "$LIST?LISTTYPE=myescalated&PageSize=1",
        token => $tok{lt_tech});
    is_deeply [map { $_->{id} } @{$r->{json} // []}], [$T{'escalated mine'}],
        'argument names and list types in any case';
    $r = $t->http(GET => "/api/ticketsapi?listType=AllTickets",
        token => $tok{admin});
    is $r->{status}, 200, 'the path in any case';
    is $r->{headers}{'x-total-count'},
        scalar $t->psql('SELECT count(*) FROM tickets WHERE NOT is_deleted'),
        'AllTickets: every ticket not deleted';
}

# Paging: X-Total-Count on every page, Link next/prev only where they lead.
{
    my @args = (listType => 'AllTickets', search => $P, pageSize => 5);
    my $pages = int(($NCRAFTED + 4) / 5);
    my (@ids, %links);
    for my $page (1 .. $pages + 1) {
        my $r = list('lt_tech', @args, page => $page);
        is $r->{status}, 200, "page $page: 200";
        is $r->{headers}{'x-total-count'}, $NCRAFTED,
            "page $page: X-Total-Count $NCRAFTED";
        my $n = $page < $pages ? 5 : $page == $pages
            ? $NCRAFTED - 5 * ($pages - 1) : 0;
        is scalar @{$r->{json} // []}, $n, "page $page: $n tickets";
        push @ids, map { $_->{id} } @{$r->{json} // []};
        my $link = $r->{headers}{link} // '';
        my %rel = map { $_->[1] => $_->[0] }
            map { [/^\s*<([^>]*)>\s*;\s*rel="(\w+)"\s*$/] } split /,(?=\s*<)/,
            $link;
        $links{$page} = \%rel;
        if ($page < $pages) {
            my $want = $page + 1;
            like $rel{next} // '', qr{^/api/TicketsApi\?.*\bpage=$want\b},
                "page $page: Link next to page $want";
        } else {
            ok !exists $rel{next}, "page $page: no next";
        }
        if ($page > 1) {
            like $rel{prev} // '', qr{\bpage=@{[$page - 1]}\b},
                "page $page: Link prev to page " . ($page - 1);
        } else {
            ok !exists $rel{prev}, 'page 1: no prev';
        }
    }
    is scalar(@ids), $NCRAFTED, 'every ticket once';
    my %seen;
    ok !grep({ $seen{$_}++ } @ids), 'no ticket twice';
    is_deeply \@ids, [sort { $b <=> $a } @ids], 'id descending across pages';

    # the links keep the other arguments and lead to that page
    my $next = $links{1}{next} // '/';
    like $next, qr/\bpageSize=5\b/, 'next keeps pageSize';
    like $next, qr/\blistType=AllTickets\b/, 'next keeps listType';
    like $next, qr/\bsearch=LT\b/, 'next keeps search';
    my $r = $t->http(GET => $next, token => $tok{lt_tech});
    is_deeply [map { $_->{id} } @{$r->{json} // []}], [@ids[5 .. 9]],
        'following next gives page 2';
    $r = $t->http(GET => $links{3}{prev} // '/', token => $tok{lt_tech});
    is_deeply [map { $_->{id} } @{$r->{json} // []}], [@ids[5 .. 9]],
        'following prev of page 3 gives page 2';
}

# Search: each field alone, and any of them.
{
    sub found {
        my ($token, $search, $fields) = @_;
        return [sort @{crafted($token, listType => 'AllTickets',
            search => $search, defined $fields ? (searchFields => $fields)
                                               : ())}];
    }
    is_deeply found('lt_tech', 'ON HOLD', 'Subject'),
        ['on hold mine', 'on hold other'], 'Subject: a substring, any case';
    is_deeply found('lt_tech', '100%_', 'Subject'), ['100%_off'],
        'Subject: % and _ are plain characters';
    is_deeply found('lt_tech', '%', 'Subject'), ['100%_off'], 'Subject: %';
    is_deeply found('lt_tech', 'p_n', 'Subject'), [],
        'Subject: _ matches no other character';
    is_deeply found('lt_tech', "#$T{'pending other'}", 'TicketId'),
        ['pending other'], 'TicketId: #id';
    is_deeply found('lt_tech', $T{'pending other'}, 'ticketid'),
        ['pending other'], 'TicketId: id';
    is_deeply found('lt_tech', "$T{'pending other'}x", 'TicketId'), [],
        'TicketId: not an integer, no match and no error';
    is_deeply found('lt_tech', 'urgent', 'Priority'), ['escalated mine'],
        'Priority: the name, any case';
    is_deeply found('lt_tech', 'urg', 'Priority'), [],
        'Priority: equal, not a substring';
    is_deeply found('lt_tech', 'LISTTECH', 'Requester'),
        ['due today closed', 'on hold mine'], 'Requester: full name';
    is_deeply found('lt_tech', 'lt_te', 'Requester'),
        ['due today closed', 'on hold mine'], 'Requester: user name';
    is_deeply found('lt_tech', 'lt.tech@EXAMPLE', 'Requester'),
        ['due today closed', 'on hold mine'], 'Requester: email';
    is_deeply found('lt_tech', 'Otto', 'Requester'), [],
        'Requester: not the assignee';
    is_deeply found('lt_tech', 'urgent', 'Subject, Requester'), [],
        'a field not searched matches nothing';
    is_deeply found('lt_tech', 'urgent', ' subject , PRIORITY '),
        ['escalated mine'], 'searchFields: any case, spaces';
    is_deeply found('lt_tech', 'Second'), [sort grep { $_ ne 'deleted' }
        map { $NAME{$_} } $t->psql('SELECT id FROM tickets WHERE'
        . ' requester_id = ' . $q->($uid{lt_mem2}))],
        'all four by default: Requester';
    is_deeply found('lt_tech', 'normal'), ['100%_off'],
        'all four by default: Priority';
    is_deeply found('lt_mem', 'mine', 'Subject'), [sort 'due today mine',
        'escalated mine', 'group mine', 'pending mine', 'resolved mine'],
        'a Member searches theirs';
    my $r = list('lt_tech', listType => 'AllTickets', search => 'x' x 200);
    is $r->{status}, 200, 'search of 200 characters';
    $r = list('lt_tech', listType => 'AllTickets', search => 'é' x 200);
    is $r->{status}, 200, 'search of 200 characters, 400 bytes';
}

# Sort and order: each key both ways, as SQL orders the crafted tickets.
for my $sort (['id', 't.id'], ['createdOn', 't.created_on'],
              ['updatedOn', 't.updated_on'],
              ['dueDate', 't.due_date %s NULLS LAST'],
              ['priority', 'p.rank %s NULLS LAST'])
{
    for my $order (qw(asc desc)) {
        my $key = $sort->[1] =~ /%s/ ? sprintf($sort->[1], $order)
            : "$sort->[1] $order";
        my @want = map { $NAME{$_} } $t->psql('SELECT t.id FROM tickets t'
            . ' LEFT JOIN priorities p ON p.id = t.priority_id'
            . " WHERE starts_with(t.title, '$P') AND NOT t.is_deleted"
            . " ORDER BY $key, t.id $order");
        is_deeply crafted('lt_tech', listType => 'AllTickets',
            sort => $sort->[0], order => $order, search => $P),
            \@want, "sort $sort->[0] $order";
        is_deeply crafted('admin', listType => 'AllTickets',
            sort => lc $sort->[0], order => uc $order), \@want,
            "sort $sort->[0] $order, walking the whole table";
    }
}

# 400: application/problem+json with an entry per offending argument.
{
    sub invalid_ok {
        my ($args, $fields, $name) = @_;
        local $Test::Builder::Level = $Test::Builder::Level + 1;
        my $r = list('lt_tech', @$args);
        $t->problem_ok($r, 400, "$name: 400 problem");
        my $e = ref $r->{json}{errors} eq 'HASH' ? $r->{json}{errors} : {};
        is_deeply [sort keys %$e], [sort @$fields], "$name: errors @$fields";
        ok !grep({ ref $e->{$_} ne 'ARRAY' || !@{$e->{$_}} } keys %$e),
            "$name: messages";
        ok !exists $r->{headers}{'x-total-count'}, "$name: no X-Total-Count";
    }
    invalid_ok([listType => 'Everything'], ['listType'], 'unknown listType');
    invalid_ok([listType => 20], ['listType'], 'listType 20');
    invalid_ok([search => 'x' x 201], ['search'], 'search of 201');
    invalid_ok([search => 'é' x 201], ['search'], 'search of 201 "é"');
    invalid_ok([searchFields => 'Subject,Body'], ['searchFields'],
        'unknown searchFields');
    invalid_ok([page => 0], ['page'], 'page 0');
    invalid_ok([page => 'two'], ['page'], 'page two');
    invalid_ok([page => '1.5'], ['page'], 'page 1.5');
    invalid_ok([pageSize => 0], ['pageSize'], 'pageSize 0');
    invalid_ok([pageSize => 101], ['pageSize'], 'pageSize 101');
    invalid_ok([sort => 'title'], ['sort'], 'unknown sort');
    invalid_ok([order => 'up'], ['order'], 'unknown order');
    invalid_ok([listType => 'x', search => 'y' x 300, searchFields => 'z',
        page => -1, pageSize => 1000, sort => 's', order => 'o'],
        [qw(listType search searchFields page pageSize sort order)],
        'every argument at once');
    my $r = $t->http(GET => "$LIST?listType=AllTickets");
    is $r->{status}, 401, 'no token: 401';
}

done_testing;
