#!/usr/bin/perl

# POST /api/TicketsApi/update/{id}, GET /api/TicketsApi/{id}/history,
# DELETE /api/TicketsApi/{id} and POST /api/TicketsApi/escalate/{id}: the
# changes and their history, every documented error, If-Match (also two
# updates at once), a write that fails half-way, the Member rules (seed 4
# and 12, SPEC 3.4, 3.12 and "Beyond the seed").

use strict;
use warnings;
use utf8;

use POSIX ();
use Test::More;
use Time::HiRes qw(sleep);
use Tickets::Test;

my $t = Tickets::Test->new->run;
my %uid = map { $_ => $t->user_id($_) }
    qw(admin tech1 tech2 tech3 member1 member2);
my $admin = $t->token('admin');
my $tech1 = $t->token('tech1');
my $member1 = $t->token('member1');
# Members whose identity provider grants every permission: only the
# object rules stand between them and another's ticket
my @ALL = map { "Tickets.$_" }
    qw(Create Update Forward Reply Close Resolve Delete);
my $member1_all = $t->token('member1', permissions => \@ALL);

# A ticket of requester (category 1/1/1, site 1, department 1, Open, no
# priority and so no SLA), registered through the API; its id.
sub new_ticket {
    my ($requester, @more) = @_;
    my $r = $t->form_post('/api/TicketsApi/register', [Title => 'Paper jam',
        Description => 'Tray 2.', CreatorId => $uid{$requester}, SiteId => 1,
        DepartmentId => 1, TicketStatusId => 1, TicketType => 'Incident',
        TicketCategoryId => 1, TicketSubCategoryId => 1, ItemId => 1,
        @more], token => $admin);
    die "register: $r->{status} $r->{content}\n" unless $r->{status} == 201;
    return $r->{json}{id};
}

sub update {
    my ($id, $fields, %o) = @_;
    return $t->form_post("/api/TicketsApi/update/$id", $fields,
        token => $admin, %o);
}

# Everything a write could leave behind, to compare before and after.
sub state_of {
    my ($id) = @_;
    return scalar $t->psql("SELECT row_to_json(t)::text || '|'"
        . " || (SELECT count(*) FROM history WHERE ticket_id = t.id) || '|'"
        . " || (SELECT count(*) FROM outbox WHERE ticket_id = t.id) || '|'"
        . " || (SELECT count(*) FROM conversations WHERE ticket_id = t.id)"
        . " FROM tickets t WHERE id = $id");
}

# The history rows after 'Created', as "field:old>new".
sub history_of {
    my ($id) = @_;
    return [map { join ':', $_->{field}, ($_->{old_value} // '~') . '>'
                  . ($_->{new_value} // '~') }
        $t->rows("SELECT field, old_value, new_value FROM history"
            . " WHERE ticket_id = $id AND field <> 'Created' ORDER BY id")];
}

sub version_of {
    scalar $t->psql("SELECT version FROM tickets WHERE id = $_[0]");
}

# A 400 with errors for exactly these fields.
sub invalid_ok {
    my ($r, $fields, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    $t->problem_ok($r, 400, "$name: 400");
    my $e = ref $r->{json} eq 'HASH' && ref $r->{json}{errors} eq 'HASH'
        ? $r->{json}{errors} : {};
    is_deeply [sort keys %$e], [sort @$fields], "$name: errors @$fields";
}


# Success: each field, its history, the ETag ------------------------------

my $id = new_ticket('member1');
my $r = $t->http(GET => "/api/TicketsApi/$id", token => $admin);
is $r->{headers}{etag}, "\"$id-1\"", 'a new ticket has version 1';

$r = update($id, [TicketStatusId => 2, TicketType => 'problem',
    TicketCategoryId => 2, TicketSubCategoryId => 4, ItemId => 5,
    TierLevelId => 2, ClientId => 1, SiteId => 2, DepartmentId => 2,
    GroupId => 1, ServiceId => 1, ImpactId => 3, UrgencyId => 2,
    CreatorId => $uid{member2}, DueDate => '2030-01-02T03:04:05+02:00',
    Title => 'not a field of the update'], token => $tech1);
is $r->{status}, 204, 'update: 204' or diag $r->{content};
is $r->{content} // '', '', 'update: no body';
is $r->{headers}{etag}, "\"$id-2\"", 'update: the new ETag';

$r = $t->http(GET => "/api/TicketsApi/$id", token => $admin);
$t->ticket_ok($r->{json}, $id, 'after update: GET matches the database');
is $r->{headers}{etag}, "\"$id-2\"", 'GET: the same ETag';
is_deeply [map { $r->{json}{$_}{id} } qw(status category subCategory item
    tierLevel client site department group service impact urgency)],
    [2, 2, 4, 5, 2, 1, 2, 2, 1, 1, 3, 2], 'every lookup changed';
is $r->{json}{ticketType}, 'Problem', 'ticketType by name';
is $r->{json}{creator}{id}, $uid{member2}, 'creator';
is $r->{json}{dueDate}, '2030-01-02T01:04:05Z', 'dueDate in UTC';
is $r->{json}{title}, 'Paper jam', 'Title is not a field of the update';

is_deeply history_of($id), [
    'dueDate:~>2030-01-02T01:04:05Z', 'category:Hardware>Software',
    'subCategory:Laptop>VPN', 'item:Dell XPS 13>AnyConnect',
    'ticketType:Incident>Problem', 'tierLevel:~>Tier 2',
    'client:~>Acme Corp', 'site:Headquarters>Branch Office',
    'department:IT>Finance', 'status:Open>In Progress',
    'group:~>Service Desk', 'creator:Mary Member>Mark Member',
    'service:~>Email Service', 'impact:~>High', 'urgency:~>Medium'],
    'a history row per changed field, readable';

# GET history: the API's shape, oldest first
$r = $t->http(GET => "/api/TicketsApi/$id/history", token => $admin);
is $r->{status}, 200, 'history: 200';
like $r->{headers}{'content-type'} // '', qr{^application/json}i,
    'history: JSON';
my $h = ref $r->{json} eq 'ARRAY' ? $r->{json} : [];
is scalar @$h, 16, 'history: Created and 15 changes';
is $h->[0]{field}, 'Created', 'history: oldest first';
is_deeply [sort keys %{$h->[10] // {}}],
    [qw(changedBy changedOn field newValue oldValue)], 'history: keys';
is_deeply $h->[10], { field => 'status', oldValue => 'Open',
    newValue => 'In Progress', changedBy => $t->person($uid{tech1}),
    changedOn => $h->[10]{changedOn} }, 'history: the status change';
like $h->[10]{changedOn} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    'history: changedOn in UTC';
ok !grep({ !defined $_->{changedBy} } @$h), 'history: every row has a person';
is_deeply $h->[1]{oldValue}, undef, 'history: an unset value is null';

# multipart works as well; the same values again write nothing
my $before = state_of($id);
$r = $t->multipart_post("/api/TicketsApi/update/$id", [TicketStatusId => 2,
    SiteId => 2, TicketType => 1, CreatorId => $uid{member2}],
    token => $admin);
is $r->{status}, 204, 'the same values: 204';
is $r->{headers}{etag}, "\"$id-2\"", 'the same values: the ETag stays';
is state_of($id), $before, 'the same values: nothing written';
$r = update($id, [TicketStatusId => 0]);
is $r->{status}, 204, 'TicketStatusId 0: 204';
$r = update($id, [TicketStatusId => -1, TicketStatusId => 3]);
is $r->{status}, 204, 'TicketStatusId -1: 204';
is state_of($id), $before, 'a status of 0 or below is no change';

# clearing: nullable fields sent empty
$r = update($id, [ClientId => '', GroupId => '', DueDate => '',
    ItemId => '']);
is $r->{status}, 204, 'clearing: 204';
$r = $t->http(GET => "/api/TicketsApi/$id", token => $admin);
is_deeply [map { $r->{json}{$_} } qw(client group dueDate item)],
    [undef, undef, undef, undef], 'clearing: null';
is $r->{json}{subCategory}{id}, 4, 'clearing: what was not sent stays';
is_deeply [@{history_of($id)}[-4 .. -1]], ['dueDate:2030-01-02T01:04:05Z>~',
    'item:AnyConnect>~', 'client:Acme Corp>~', 'group:Service Desk>~'],
    'clearing: history';


# Technician, SLA and status dates --------------------------------------

my $outbox_sql = "SELECT channel, event, recipients, payload FROM outbox"
    . " WHERE ticket_id = %d AND event = 'TicketAssigned' ORDER BY channel";
$id = new_ticket('member1');
$r = update($id, [AssignedUser => $uid{tech2}, TicketPriorityId => 4]);
is $r->{status}, 204, 'technician and priority: 204';
my @o = $t->rows(sprintf $outbox_sql, $id);
is_deeply [map { [$_->{channel}, $_->{event}, $_->{recipients}] } @o],
    [['email', 'TicketAssigned', ['tech2@example.com']],
     ['push', 'TicketAssigned', [$uid{tech2}]]],
    'technician: email and push to the technician';
is_deeply [map { [@{$_->{payload}}{qw(ticketId title assignee assignedBy)}] }
    @o], [([$id, 'Paper jam', $uid{tech2}, $uid{admin}]) x 2],
    'technician: payload';
like $o[0]{payload}{subject} // '', qr/^Ticket #$id assigned to you/,
    'technician: subject';
ok length($o[0]{payload}{message} // ''), 'technician: message';
is scalar $t->psql("SELECT sla_id || '|' || (due_date = created_on"
    . " + interval '240 minutes') || '|' || (response_due_date = created_on"
    . " + interval '15 minutes') FROM tickets WHERE id = $id"),
    '4|true|true', 'priority: the Urgent policy, due dates from createdOn';
is_deeply [grep { /^(?:priority|sla|assignee):/ } @{history_of($id)}],
    ['priority:~>Urgent', 'assignee:~>Tina Technician',
     'sla:~>Urgent priority'], 'priority, sla and assignee history';
$r = update($id, [AssignedUser => $uid{tech2}, UrgencyId => 1]);
is scalar(() = $t->rows(sprintf $outbox_sql, $id)), 2,
    'the same technician again: no notification';
$r = update($id, [AssignedUser => '']);
is scalar(() = $t->rows(sprintf $outbox_sql, $id)), 2,
    'technician removed: no notification';

$r = update($id, [TicketStatusId => 5]);
is $r->{status}, 204, 'to Resolved: 204';
$r = $t->http(GET => "/api/TicketsApi/$id", token => $admin);
ok defined $r->{json}{resolvedOn}, 'to Resolved: resolvedOn set';
is $r->{json}{status}{statusType}, 'Resolved', 'to Resolved: statusType';


# Errors -----------------------------------------------------------------

$id = new_ticket('member1');
$before = state_of($id);

# compat: an unknown or deleted ticket is 400
for my $case (['999999999', 'unknown'], ['36', 'deleted (demo 36)']) {
    $r = update($case->[0], [TicketStatusId => 2]);
    $t->problem_ok($r, 400, "update of a ticket $case->[1]: 400 (compat)");
    is $r->{json}{detail}, 'Ticket not found',
        "update of a ticket $case->[1]: Ticket not found";
}

$r = update($id, [Id => $id + 1, TicketStatusId => 2]);
invalid_ok($r, ['Id'], 'Id of another ticket');
$r = update($id, [Id => 'abc']);
invalid_ok($r, ['Id'], 'Id not a number');
$r = update($id, [Id => $id, TicketStatusId => 2]);
is $r->{status}, 204, 'Id equal to the path: 204';
$before = state_of($id);

invalid_ok(update($id, [GroupId => 999]), ['GroupId'], 'GroupId unknown');
invalid_ok(update($id, [TicketStatusId => 999]), ['TicketStatusId'],
    'TicketStatusId unknown');
invalid_ok(update($id, [SiteId => '']), ['SiteId'], 'SiteId empty');
invalid_ok(update($id, [DepartmentId => '']), ['DepartmentId'],
    'DepartmentId empty');
invalid_ok(update($id, [CreatorId => '']), ['CreatorId'], 'CreatorId empty');
invalid_ok(update($id, [CreatorId => 'nobody']), ['CreatorId'],
    'CreatorId unknown');
invalid_ok(update($id, [AssignedUser => $uid{member2}]), ['AssignedUser'],
    'a Member as technician');
invalid_ok(update($id, [TicketType => 'Bogus']), ['TicketType'],
    'TicketType unknown');
invalid_ok(update($id, [DueDate => 'tomorrow']), ['DueDate'],
    'DueDate not a date');
invalid_ok(update($id, [TicketPriorityId => '1.5']), ['TicketPriorityId'],
    'TicketPriorityId not an integer');
invalid_ok(update($id, [TicketCategoryId => 2]), ['TicketCategoryId'],
    'a category that its subcategory does not belong to');
invalid_ok(update($id, [TicketCategoryId => '']), ['TicketCategoryId'],
    'no category under a subcategory');
invalid_ok(update($id, [ItemId => 4]), ['ItemId'],
    'an item of another subcategory');
invalid_ok(update($id, [SiteId => 'x', GroupId => 999, ClientId => 999]),
    ['SiteId'], 'the form is checked before the database');
invalid_ok(update($id, [SiteId => 999, GroupId => 999, ClientId => 999,
    TicketStatusId => 2]), [qw(SiteId GroupId ClientId)],
    'every unknown id at once');
is state_of($id), $before, 'no invalid update changed anything';

# permissions: 403, existence or not
for my $case ([$member1, 'member1'],
              [$t->token('admin', permissions => ['Tickets.Create']),
               'admin without Tickets.Update'],
              [$t->token('integration'), 'integration'])
{
    for my $target ($id, 999999999) {
        $r = update($target, [TicketStatusId => 3], token => $case->[0]);
        $t->problem_ok($r, 403, "update by $case->[1] of $target: 403");
    }
}
is state_of($id), $before, '403: nothing changed';


# If-Match ---------------------------------------------------------------

my $v = version_of($id);
$r = update($id, [TicketStatusId => 3],
    headers => { 'If-Match' => "\"$id-" . ($v - 1) . '"' });
$t->problem_ok($r, 412, 'a stale If-Match: 412');
$r = update($id, [GroupId => 999],
    headers => { 'If-Match' => "\"$id-" . ($v - 1) . '"' });
$t->problem_ok($r, 412, 'a stale If-Match with an invalid form: 412');
$r = update($id, [TicketStatusId => 3],
    headers => { 'If-Match' => "W/\"$id-$v\"" });
$t->problem_ok($r, 412, 'a weak ETag never matches: 412');
is state_of($id), $before, '412: nothing changed';

$r = update($id, [TicketStatusId => 3],
    headers => { 'If-Match' => "\"$id-$v\"" });
is $r->{status}, 204, 'the current If-Match: 204';
is $r->{headers}{etag}, "\"$id-" . ($v + 1) . '"', 'and the next ETag';
$r = update($id, [TicketStatusId => 4], headers => { 'If-Match' => '*' });
is $r->{status}, 204, 'If-Match *: 204';

# Two updates with one If-Match at once: both wait on the row, then one
# wins and the other is 412.
{
    $id = new_ticket('member1');
    my $etag = "\"$id-1\"";
    my $holder = fork // die "fork: $!";
    if ($holder == 0) {
        $t->psql("BEGIN; SELECT 1 FROM tickets WHERE id = $id FOR UPDATE;"
            . " SELECT pg_sleep(2); COMMIT");
        POSIX::_exit(0);
    }
    sleep 0.5;

    my @kids;
    for my $status (2, 3) {
        pipe my $rd, my $wr or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            close $rd;
            my $res = update($id, [TicketStatusId => $status],
                headers => { 'If-Match' => $etag });
            print $wr "$res->{status}\n";
            close $wr;
            POSIX::_exit(0);
        }
        close $wr;
        push @kids, [$pid, $rd];
    }

    # both are waiting on the row while the holder sleeps
    my $waiting = 0;
    for (1 .. 30) {
        $waiting = $t->psql("SELECT count(*) FROM pg_locks WHERE NOT granted"
            . " AND locktype IN ('transactionid', 'tuple')");
        last if $waiting >= 2;
        sleep 0.05;
    }
    ok $waiting >= 2, 'two updates wait on the locked row';

    my @status;
    for my $k (@kids) {
        my $fh = $k->[1];
        my $line = <$fh> // 'none';
        chomp $line;
        push @status, $line;
        waitpid $k->[0], 0;
    }
    waitpid $holder, 0;

    is_deeply [sort @status], [204, 412],
        'two updates with one If-Match: one 204, one 412';
    is version_of($id), 2, 'one write only';
    is scalar(() = grep { /^status:/ } @{history_of($id)}), 1,
        'one history row only';
}


# A write that fails half-way leaves nothing ----------------------------

$id = new_ticket('member1', AssignedUser => $uid{tech1});
$before = state_of($id);
$t->psql(q{CREATE FUNCTION test_update_boom() RETURNS trigger
    LANGUAGE plpgsql AS $$ BEGIN
    IF NEW.new_value = 'Acme Corp' THEN RAISE EXCEPTION 'boom'; END IF;
    RETURN NEW; END $$});
$t->psql('CREATE TRIGGER test_update_boom BEFORE INSERT ON history'
    . ' FOR EACH ROW EXECUTE FUNCTION test_update_boom()');
$r = update($id, [TicketStatusId => 2, AssignedUser => $uid{tech2},
    ClientId => 1, TicketPriorityId => 4, GroupId => 2]);
$t->problem_ok($r, 500, 'a history row fails: 500 problem');
is state_of($id), $before, 'ticket, history and outbox unchanged';
$t->psql('DROP TRIGGER test_update_boom ON history');
$t->psql('DROP FUNCTION test_update_boom()');
$r = update($id, [TicketStatusId => 2, AssignedUser => $uid{tech2},
    ClientId => 1, TicketPriorityId => 4, GroupId => 2]);
is $r->{status}, 204, 'without the trigger the same update passes';
isnt state_of($id), $before, 'and changes the ticket';


# Members ----------------------------------------------------------------

{
    my $mine = new_ticket('member1');
    my $theirs = new_ticket('member2');
    my $theirs_before = state_of($theirs);

    $r = update($theirs, [UrgencyId => 3], token => $member1_all);
    $t->problem_ok($r, 400, "update of another's ticket: 400 (compat)");
    is $r->{json}{detail}, 'Ticket not found',
        "update of another's ticket: Ticket not found, as unknown";
    $r = update($theirs, [UrgencyId => 3], token => $member1);
    $t->problem_ok($r, 403, "update of another's ticket without "
        . 'Tickets.Update: 403, as for every ticket');
    for my $tok ([$member1, 'member1'], [$member1_all, 'member1 (all)']) {
        $r = $t->http(GET => "/api/TicketsApi/$theirs/history",
            token => $tok->[0]);
        $t->problem_ok($r, 404, "history of another's ticket, $tok->[1]: 404");
    }
    $r = $t->http(DELETE => "/api/TicketsApi/$theirs", token => $member1_all);
    $t->problem_ok($r, 404, "delete of another's ticket: 404");
    $r = $t->form_post("/api/TicketsApi/escalate/$theirs", [Reason => 'x'],
        token => $member1_all);
    $t->problem_ok($r, 404, "escalate of another's ticket: 404");
    is state_of($theirs), $theirs_before, "another's ticket unchanged";

    $r = $t->http(GET => "/api/TicketsApi/$mine/history", token => $member1);
    is $r->{status}, 200, 'history of my ticket: 200';
    is $r->{json}[0]{field}, 'Created', 'history of my ticket: Created';
    $r = update($mine, [UrgencyId => 3], token => $member1_all);
    is $r->{status}, 204, 'a Member with Tickets.Update, own ticket: 204';
    $r = update($mine, [CreatorId => $uid{member2}], token => $member1_all);
    $t->problem_ok($r, 403, 'a Member giving their ticket away: 403');
    $r = $t->http(GET => "/api/TicketsApi/$theirs/history", token => $admin);
    is $r->{status}, 200, "staff read another's history";
}


# Delete -----------------------------------------------------------------

$id = new_ticket('member1', AssignedUser => $uid{tech1});
$before = state_of($id);
for my $case ([$tech1, 'tech1 (no Tickets.Delete)'],
              [$member1, 'member1'])
{
    for my $target ($id, 999999999) {
        $r = $t->http(DELETE => "/api/TicketsApi/$target",
            token => $case->[0]);
        $t->problem_ok($r, 403, "delete by $case->[1] of $target: 403");
    }
}
is state_of($id), $before, 'delete 403: nothing changed';

$r = $t->http(DELETE => "/api/TicketsApi/$id", token => $admin);
is $r->{status}, 200, 'delete: 200';
$t->ticket_ok($r->{json}, $id, 'delete: the ticket as deleted');
is $r->{json}{isDeleted}, JSON::PP::true, 'delete: isDeleted true';
ok defined $r->{json}{deletedOn}, 'delete: deletedOn';
is $r->{json}{assignee}{id}, $uid{tech1}, 'delete: the whole model';
is_deeply [grep { /^(?:isDeleted|deletedOn):/ } @{history_of($id)}],
    ['isDeleted:false>true', "deletedOn:~>$r->{json}{deletedOn}"],
    'delete: history rows for isDeleted and deletedOn, as answered';
ok defined Tickets::Test::iso_epoch($r->{json}{deletedOn}),
    'delete: deletedOn in ISO 8601 UTC';
is_deeply [$t->psql("SELECT DISTINCT changed_by_id FROM history"
    . " WHERE ticket_id = $id AND field IN ('isDeleted', 'deletedOn')")],
    [$uid{admin}], 'delete: both by the principal';

$t->problem_ok($t->http(GET => "/api/TicketsApi/$id", token => $admin), 404,
    'deleted: GET 404');
$t->problem_ok($t->http(GET => "/api/TicketsApi/$id/history",
    token => $admin), 404, 'deleted: history 404');
$r = update($id, [TicketStatusId => 2]);
$t->problem_ok($r, 400, 'deleted: update 400 (compat)');
is $r->{json}{detail}, 'Ticket not found', 'deleted: update Ticket not found';
$t->problem_ok($t->http(DELETE => "/api/TicketsApi/$id", token => $admin),
    404, 'deleted: a second delete 404');
$t->problem_ok($t->form_post("/api/TicketsApi/escalate/$id",
    [Reason => 'x'], token => $admin), 404, 'deleted: escalate 404');
$t->problem_ok($t->http(DELETE => '/api/TicketsApi/999999999',
    token => $admin), 404, 'delete of an unknown ticket: 404');


# Escalate ---------------------------------------------------------------

$id = new_ticket('member1', AssignedUser => $uid{tech1});
$before = state_of($id);
my $ESC = "/api/TicketsApi/escalate/$id";
$t->problem_ok($t->form_post($ESC, [Reason => 'late'], token => $member1),
    403, 'escalate by member1: 403');
$t->problem_ok($t->form_post($ESC, [Reason => 'late'],
    token => $t->token('tech1', permissions => ['Tickets.Reply'])), 403,
    'escalate without Tickets.Update: 403');
invalid_ok($t->form_post($ESC, [], token => $tech1), ['Reason'],
    'escalate without Reason');
invalid_ok($t->form_post($ESC, [Reason => 'late', GroupId => 999],
    token => $tech1), ['GroupId'], 'escalate to an unknown group');
invalid_ok($t->form_post($ESC, [Reason => 'late', TierLevelId => 'x'],
    token => $tech1), ['TierLevelId'], 'escalate to a tier that is no id');
invalid_ok($t->form_post($ESC, [Reason => 'late', TierLevelId => 999],
    token => $tech1), ['TierLevelId'], 'escalate to an unknown tier');
is state_of($id), $before, 'escalate errors: nothing changed';
$t->problem_ok($t->form_post('/api/TicketsApi/escalate/999999999',
    [Reason => 'late'], token => $tech1), 404, 'escalate unknown: 404');

$r = $t->form_post($ESC, [Reason => 'Customer is waiting', GroupId => 2,
    TierLevelId => 2], token => $tech1);
is $r->{status}, 204, 'escalate: 204' or diag $r->{content};
$r = $t->http(GET => "/api/TicketsApi/$id", token => $admin);
$t->ticket_ok($r->{json}, $id, 'escalated: GET matches the database');
is $r->{json}{isEscalated}, JSON::PP::true, 'escalated: isEscalated';
is_deeply [$r->{json}{group}{id}, $r->{json}{tierLevel}{id}], [2, 2],
    'escalated: group and tier';
is_deeply [map { [@$_{qw(type message created_by_id)}] }
    $t->rows("SELECT type, message, created_by_id FROM conversations"
        . " WHERE ticket_id = $id ORDER BY id")],
    [['Escalation', 'Customer is waiting', $uid{tech1}]],
    'escalated: an Escalation conversation with the reason';
is_deeply [map { [@$_{qw(channel event recipients)}, $_->{payload}{reason}] }
    $t->rows("SELECT channel, event, recipients, payload FROM outbox"
        . " WHERE ticket_id = $id AND event = 'Escalated'")],
    [['email', 'Escalated', ['tech1@example.com'], 'Customer is waiting']],
    'escalated: an email to the technician';
is_deeply [grep { /^(?:isEscalated|group|tierLevel):/ } @{history_of($id)}],
    ['isEscalated:false>true', 'group:~>Network', 'tierLevel:~>Tier 2'],
    'escalated: history';

$r = $t->form_post($ESC, [Reason => 'Still waiting'], token => $admin);
is $r->{status}, 204, 'escalate again: 204';
is scalar $t->psql("SELECT count(*) FROM conversations WHERE ticket_id = $id"
    . " AND type = 'Escalation'"), 2, 'escalate again: logged again';

done_testing;
