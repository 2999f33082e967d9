#!/usr/bin/perl

# The integration API and tasks: POST /api/TicketsApi/new (seed 15),
# POST /api/TicketsApi/list (seed 16), GET and POST /api/TicketsApi/{id}/tasks
# and POST /api/TicketsApi/tasks/complete/{taskId} (SPEC 3, beyond the seed).

use strict;
use warnings;
use utf8;

use Digest::SHA qw(sha256_hex);
use Test::More;
use Tickets::Test;

my $t = Tickets::Test->new->run;
my %tok = map { $_ => $t->token($_) }
    qw(admin tech1 tech2 member1 member2 integration);
my %id = map { $_ => $t->user_id($_) }
    qw(admin tech1 tech2 member1 member2 integration);
my $NEW = '/api/TicketsApi/new';
my $LIST = '/api/TicketsApi/list';

sub count { scalar $t->psql("SELECT count(*) FROM $_[0]") }

sub new_ticket {
    my ($fields, %o) = @_;
    return $t->form_post($NEW, $fields, token => $tok{integration}, %o);
}

# 400 problem whose errors name exactly these fields.
sub invalid_ok {
    my ($r, $fields, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    $t->problem_ok($r, 400, "$name: 400 problem");
    my $e = ref $r->{json}{errors} eq 'HASH' ? $r->{json}{errors} : {};
    is_deeply [sort keys %$e], [sort @$fields], "$name: errors name @$fields";
}

# 201 with Location and the TicketApiModel that GET answers too.
sub created_ok {
    my ($r, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is $r->{status}, 201, "$name: 201" or diag substr $r->{content}, 0, 800;
    my $id = $r->{json}{id} // 0;
    like $r->{headers}{location} // '', qr{/api/TicketsApi/$id$}i,
        "$name: Location of ticket $id";
    $t->ticket_ok($r->{json}, $id, "$name: the body matches the database");
    my $g = $t->http(GET => "/api/TicketsApi/$id", token => $tok{admin});
    $t->model_is($g->{json}, $r->{json}, "$name: GET returns the same model");
    is $r->{headers}{etag}, $g->{headers}{etag}, "$name: the ETag of GET";
    return $r->{json} // {};
}


# New ----------------------------------------------------------------------

my $before = count('tickets');
my $r = new_ticket([Title => 'Laptop battery swollen',
    Description => 'From the partner portal.', Requester => 'member1']);
my $j = created_ok($r, 'new by the integration');
is count('tickets'), $before + 1, 'one ticket more';
is $j->{source}, 'Api', 'source Api';
is $j->{ticketType}, 'Ticket', 'ticket type Ticket';
is $j->{creator}{id}, $id{member1}, 'the requester is Requester';
is $j->{createdBy}{id}, $id{integration}, 'createdBy is the principal';
is $j->{assignee}, undef, 'no assignee';
is_deeply [map { $j->{$_}{id} } qw(site status priority category tierLevel
    department)], [1, 1, 2, 1, 1, 1],
    'defaults: site, status, priority, category, tier from settings;'
    . ' the lowest department';
is $j->{group}, undef, 'no group';
is $j->{sla}{id}, 2, 'the SLA of the default priority';
is_deeply [$t->psql("SELECT field || '|' || new_value || '|' || changed_by_id"
    . " FROM history WHERE ticket_id = $j->{id}")],
    ["Created|Laptop battery swollen|$id{integration}"], 'history: Created';

# Requester by user name in any case; by Email when the name is no user's.
$r = new_ticket([Title => 'Case', Description => 'x', Requester => 'MEMBER2']);
is $r->{json}{creator}{id}, $id{member2}, 'Requester in any case';
$r = new_ticket([Title => 'Email only', Description => 'x',
    Requester => 'Mark from Sales', Email => 'Member2@Example.com']);
$j = created_ok($r, 'new with the Email');
is $j->{creator}{id}, $id{member2}, 'the requester found by Email';
$r = new_ticket([Title => 'Name first', Description => 'x',
    Requester => 'tech1', Email => 'member2@example.com']);
is $r->{json}{creator}{id}, $id{tech1}, 'the user name wins over the Email';

# Every id given.
$r = new_ticket([Title => 'Every id', Description => 'x',
    Requester => 'member1', TierLevelId => 2, GroupId => 2, SiteId => 2,
    DepartmentId => 2, ClientId => 1, TicketStatusId => 3,
    TicketPriorityId => 4, TicketCategoryId => 3]);
$j = created_ok($r, 'new with every id');
is_deeply [map { $j->{$_}{id} } qw(tierLevel group site department client
    status priority category sla)], [2, 2, 2, 2, 1, 3, 4, 3, 4],
    'every id kept, the Urgent SLA';

# Other defaults are taken from the settings.
$t->ctl_ok(qw(setting set), @$_) for [default_site_id => 2],
    [default_status_id => 4], [default_priority_id => 3],
    [default_category_id => 2], [default_tier_level_id => 2];
$r = new_ticket([Title => 'Other defaults', Description => 'x',
    Requester => 'member1']);
$j = created_ok($r, 'new with other defaults');
is_deeply [map { $j->{$_}{id} } qw(site status priority category tierLevel)],
    [2, 4, 3, 2, 2], 'the defaults of the settings';
$t->ctl_ok(qw(setting set), @$_) for [default_site_id => 1],
    [default_status_id => 1], [default_priority_id => 2],
    [default_category_id => 1], [default_tier_level_id => 1];

# Validation: nothing is created.
$before = count('tickets');
invalid_ok(new_ticket([Title => 'x', Description => 'x',
    Requester => 'ghost']), ['Requester'], 'an unknown Requester');
invalid_ok(new_ticket([Title => 'x', Description => 'x',
    Requester => 'ghost', Email => 'ghost@example.com']), ['Requester'],
    'an unknown Requester and Email');
invalid_ok(new_ticket([Title => 'x', Description => 'x',
    Email => 'member1@example.com']), ['Requester'],
    'Requester is required (seed 15), even with an Email');
invalid_ok(new_ticket([Requester => 'member1']), [qw(Title Description)],
    'Title and Description missing');
invalid_ok(new_ticket([Title => 'x' x 256, Description => 'x',
    Requester => 'member1']), ['Title'], 'a Title of 256 characters');
invalid_ok(new_ticket([Title => 'x', Description => 'x',
    Requester => 'member1', SiteId => 99, TicketStatusId => 'abc',
    GroupId => '1.5']), [qw(SiteId TicketStatusId GroupId)],
    'an unknown and two malformed ids');
is count('tickets'), $before, 'no ticket from an invalid form';
created_ok(new_ticket([Title => 'é' x 255, Description => 'x',
    Requester => 'member1']), 'a Title of 255 "é"');

# Any principal, no permission needed; a Member only for themselves.
$before = count('tickets');
$r = new_ticket([Title => 'Not mine', Description => 'x',
    Requester => 'member2'], token => $tok{member1});
$t->problem_ok($r, 403, 'a Member naming another requester: 403');
$r = new_ticket([Title => 'Not mine', Description => 'x',
    Requester => 'nobody', Email => 'member2@example.com'],
    token => $tok{member1});
$t->problem_ok($r, 403, 'a Member naming another by Email: 403');
is count('tickets'), $before, 'nothing created for another';
$r = new_ticket([Title => 'Mine', Description => 'x', Requester => 'member1'],
    token => $t->token('member1', permissions => []));
$j = created_ok($r, 'a Member without permissions, for themselves');
is $j->{createdBy}{id}, $id{member1}, 'createdBy the Member';
$t->problem_ok(new_ticket([Title => 'x', Description => 'x',
    Requester => 'member1'], token => undef), 401, 'no token: 401');

# Uploads, multipart.
$r = $t->multipart_post($NEW, [Title => 'With a log', Description => 'x',
    Requester => 'member1'], token => $tok{integration},
    files => [['Uploads', 'boot.log', 'text/plain', "line 1\n"],
              ['Uploads', 'setup.exe', 'application/octet-stream', 'MZ']]);
$j = created_ok($r, 'new with uploads');
is_deeply [map { [$_->{fileName}, $_->{sha256}] } @{$j->{attachments}}],
    [['boot.log', sha256_hex("line 1\n")]],
    'the allowed upload is kept, the other skipped';

# Idempotency-Key.
$before = count('tickets');
my %key = (headers => { 'Idempotency-Key' => 'new-0001' });
my @once = (Title => 'Idempotent', Description => 'x', Requester => 'member1');
my $first = new_ticket(\@once, %key);
is $first->{status}, 201, 'Idempotency-Key, first: 201';
my $again = new_ticket(\@once, %key);
is $again->{status}, 201, 'the same key again: 201';
is $again->{json}{id}, $first->{json}{id}, 'the same key again: the same id';
is_deeply $again->{json}, $first->{json}, 'the same key again: the same body';
is $again->{headers}{location}, $first->{headers}{location},
    'the same key again: the same Location';
is count('tickets'), $before + 1, 'the same key twice: one ticket';
$t->problem_ok(new_ticket([@once[0 .. 3], Requester => 'member2'], %key),
    400, 'the same key, another body: 400');
is count('tickets'), $before + 1, 'still one ticket';


# List ---------------------------------------------------------------------

# 28 tickets of one user an hour apart, the last two at one instant, the
# fifth deleted.
$t->psql("INSERT INTO users (user_name, email, full_name, role)"
    . " VALUES ('lister', 'lister\@example.com', 'Lee Lister', 'Member')");
$t->psql("INSERT INTO tickets (title, description, requester_id,"
    . " created_by_id, site_id, department_id, status_id, created_on,"
    . " is_deleted, deleted_on)"
    . " SELECT 'List ' || i, 'x', u.id, u.id, 1, 1, 1,"
    . " date_trunc('hour', now()) - least(i, 27) * interval '1 hour',"
    . " i = 5, CASE WHEN i = 5 THEN now() END"
    . " FROM generate_series(1, 28) i, users u WHERE u.user_name = 'lister'");

sub list {
    my ($fields, %o) = @_;
    return $t->form_post($LIST, $fields, token => $tok{admin}, %o);
}

$r = list([username => 'lister']);
is $r->{status}, 200, 'list: 200' or diag $r->{content};
like $r->{headers}{'content-type'} // '', qr{^application/json}i,
    'list: JSON';
my @got = @{ref $r->{json} eq 'ARRAY' ? $r->{json} : []};
is scalar @got, 25, 'list: 25 on a page';
is_deeply [map { $_->{title} } @got],
    [map { "List $_" } 1 .. 4, 6 .. 26], 'newest first, the deleted left out';
$t->ticket_ok($got[$_], $got[$_]{id}, "list: ticket $_ is a TicketApiModel")
    for 0, 12, 24;
$r = list([username => 'LISTER', page => 2]);
is_deeply [map { $_->{title} } @{$r->{json} // []}], ['List 28', 'List 27'],
    'page 2: the two oldest, at one instant the higher id first';
$r = list([username => 'lister', page => 3]);
is $r->{status}, 200, 'page 3: 200';
is_deeply $r->{json}, [], 'page 3: empty';
$r = $t->multipart_post($LIST, [username => 'lister', page => 2],
    token => $tok{integration});
is scalar @{$r->{json} // []}, 2, 'multipart, by the integration: page 2';

$r = list([username => 'no-such-user']);
is $r->{status}, 200, 'an unknown user: 200';
is_deeply $r->{json}, [], 'an unknown user: []';

invalid_ok(list([]), ['username'], 'username missing');
invalid_ok(list([username => '']), ['username'], 'username empty');
invalid_ok(list([username => 'lister', page => $_]), ['page'], "page '$_'")
    for '0', '-1', 'abc', '1.5', '99999999999';

# A Member lists only their own.
$r = list([username => 'member1'], token => $tok{member1});
is $r->{status}, 200, 'a Member lists their own: 200';
ok @{$r->{json} // []} > 0, 'a Member: some tickets';
ok !grep({ $_->{creator}{id} ne $id{member1} } @{$r->{json} // []}),
    'a Member: only their own';
is_deeply [map { $_->{id} } @{$r->{json} // []}],
    [map { $_->{id} } @{list([username => 'member1'])->{json} // []}],
    'a Member sees what staff see of their tickets';
$t->problem_ok(list([username => 'member2'], token => $tok{member1}), 403,
    'a Member listing another: 403');
$t->problem_ok(list([username => 'no-such-user'], token => $tok{member1}),
    403, 'a Member listing an unknown user: 403');
$t->problem_ok(list([username => 'member1'], token => undef), 401,
    'list without a token: 401');


# Tasks --------------------------------------------------------------------

$r = new_ticket([Title => 'Needs tasks', Description => 'x',
    Requester => 'member1']);
my $tid = $r->{json}{id};
my $TASKS = "/api/TicketsApi/$tid/tasks";
my @TASK_KEYS = qw(id ticketId title assignedUser dueDate isCompleted
    completedOn completedBy createdBy createdOn);

sub person { $t->person($_[0]) }

$r = $t->http(GET => $TASKS, token => $tok{admin});
is $r->{status}, 200, 'tasks of a ticket without any: 200';
is_deeply $r->{json}, [], 'tasks: []';

$r = $t->form_post($TASKS, [Title => 'Order a battery',
    AssignedUser => $id{tech1}, DueDate => '2030-01-02T03:04:05+02:00'],
    token => $tok{tech2});
is $r->{status}, 201, 'create a task: 201' or diag $r->{content};
like $r->{headers}{location} // '', qr{/api/TicketsApi/$tid/tasks$}i,
    'Location: the tasks of the ticket';
my $task = $r->{json} // {};
is_deeply [sort keys %$task], [sort @TASK_KEYS], 'the keys of a task';
is $task->{ticketId}, $tid, 'ticketId';
is $task->{title}, 'Order a battery', 'title';
is_deeply $task->{assignedUser}, person($id{tech1}), 'assignedUser';
is $task->{dueDate}, '2030-01-02T01:04:05Z', 'dueDate in UTC';
ok JSON::PP::is_bool($task->{isCompleted}) && !$task->{isCompleted},
    'isCompleted false';
is $task->{completedOn}, undef, 'completedOn null';
is $task->{completedBy}, undef, 'completedBy null';
is_deeply $task->{createdBy}, person($id{tech2}), 'createdBy';
like $task->{createdOn} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    'createdOn';
is scalar $t->psql("SELECT field || '|' || new_value FROM history"
    . " WHERE ticket_id = $tid ORDER BY id DESC LIMIT 1"),
    'Task|Order a battery', 'history: Task';
is scalar $t->psql("SELECT version FROM tickets WHERE id = $tid"), 2,
    'the ticket version went up';

$r = $t->form_post($TASKS, [title => 'Call the requester'],
    token => $tok{admin});
is $r->{status}, 201, 'a task with only a title: 201';
my $task2 = $r->{json} // {};
is $task2->{assignedUser}, undef, 'no assignee';

$r = $t->http(GET => $TASKS, token => $tok{admin});
is_deeply [map { $_->{id} } @{$r->{json} // []}], [$task->{id}, $task2->{id}],
    'tasks: oldest first';
is_deeply $r->{json}[0], $task, 'the listed task is the created one';
$r = $t->http(GET => $TASKS, token => $tok{member1});
is $r->{status}, 200, 'the requester reads the tasks';
$t->problem_ok($t->http(GET => $TASKS, token => $tok{member2}), 404,
    'another Member: 404');
$t->problem_ok($t->http(GET => '/api/TicketsApi/999999/tasks',
    token => $tok{admin}), 404, 'tasks of an unknown ticket: 404');
$t->problem_ok($t->http(GET => '/api/TicketsApi/36/tasks',
    token => $tok{admin}), 404, 'tasks of a deleted ticket: 404');

# Creating: Tickets.Update, a valid form, a visible ticket.
$before = count('tasks');
$t->problem_ok($t->form_post($TASKS, [Title => 'x'], token => $tok{member1}),
    403, 'a Member without Tickets.Update: 403');
$t->problem_ok($t->form_post($TASKS, [Title => 'x'],
    token => $tok{integration}), 403, 'the integration: 403');
$t->problem_ok($t->form_post($TASKS, [Title => 'x'],
    token => $t->token('member2', permissions => ['Tickets.Update'])), 404,
    'a Member with Tickets.Update on another\'s ticket: 404');
$t->problem_ok($t->form_post('/api/TicketsApi/999999/tasks', [Title => 'x'],
    token => $tok{admin}), 404, 'an unknown ticket: 404');
$t->problem_ok($t->form_post('/api/TicketsApi/36/tasks', [Title => 'x'],
    token => $tok{admin}), 404, 'a deleted ticket: 404');
invalid_ok($t->form_post($TASKS, [DueDate => 'soon'], token => $tok{admin}),
    [qw(Title DueDate)], 'Title missing, DueDate malformed');
invalid_ok($t->form_post($TASKS, [Title => 'x' x 256], token => $tok{admin}),
    ['Title'], 'a Title of 256 characters');
invalid_ok($t->form_post($TASKS, [Title => 'x', AssignedUser => $id{member1}],
    token => $tok{admin}), ['AssignedUser'], 'a Member as assignee');
invalid_ok($t->form_post($TASKS, [Title => 'x', AssignedUser => 'nobody'],
    token => $tok{admin}), ['AssignedUser'], 'an unknown assignee');
is count('tasks'), $before, 'no task from a refused request';

# Idempotency-Key.
%key = (headers => { 'Idempotency-Key' => 'task-0001' });
$first = $t->form_post($TASKS, [Title => 'Once'], token => $tok{admin}, %key);
is $first->{status}, 201, 'task with a key: 201';
$again = $t->form_post($TASKS, [Title => 'Once'], token => $tok{admin}, %key);
is $again->{status}, 201, 'the same key again: 201';
is_deeply $again->{json}, $first->{json}, 'the same key again: the same task';
is $again->{headers}{location}, $first->{headers}{location},
    'the same key again: the same Location';
$t->problem_ok($t->form_post($TASKS, [Title => 'Twice'], token => $tok{admin},
    %key), 400, 'the same key, another body: 400');
is count('tasks'), $before + 1, 'one task from the key';

# Completing: the assignee or Tickets.Update.
my $COMPLETE = "/api/TicketsApi/tasks/complete";
my $tech1_bare = $t->token('tech1', permissions => []);
my $tech2_bare = $t->token('tech2', permissions => []);
$t->problem_ok($t->http(POST => "$COMPLETE/$task->{id}", token => $tech2_bare),
    403, 'neither the assignee nor Tickets.Update: 403');
$t->problem_ok($t->http(POST => "$COMPLETE/$task->{id}",
    token => $tok{member1}), 403, 'the requester: 403');
$t->problem_ok($t->http(POST => "$COMPLETE/$task->{id}",
    token => $tok{member2}), 404, 'another Member: 404');
$t->problem_ok($t->http(POST => "$COMPLETE/999999", token => $tok{admin}),
    404, 'an unknown task: 404');
$t->problem_ok($t->http(POST => "$COMPLETE/$task2->{id}",
    token => $tech1_bare), 403, 'the assignee of another task: 403');
is scalar $t->psql("SELECT count(*) FROM tasks WHERE ticket_id = $tid"
    . " AND is_completed"), 0, 'nothing completed yet';

my $version = $t->psql("SELECT version FROM tickets WHERE id = $tid");
$r = $t->http(POST => "$COMPLETE/$task->{id}", token => $tech1_bare);
is $r->{status}, 204, 'the assignee without permissions: 204';
is $r->{content} // '', '', '204: no body';
my ($row) = $t->rows("SELECT is_completed, completed_by_id,"
    . " completed_on IS NOT NULL AS on FROM tasks WHERE id = $task->{id}");
is_deeply $row, { is_completed => JSON::PP::true, completed_by_id => $id{tech1},
    on => JSON::PP::true }, 'completed by tech1, now';
is scalar $t->psql("SELECT field || '|' || new_value || '|' || changed_by_id"
    . " FROM history WHERE ticket_id = $tid ORDER BY id DESC LIMIT 1"),
    "TaskCompleted|Order a battery|$id{tech1}", 'history: TaskCompleted';
is scalar $t->psql("SELECT version FROM tickets WHERE id = $tid"),
    $version + 1, 'the ticket version went up';

my $on = $t->psql("SELECT completed_on FROM tasks WHERE id = $task->{id}");
my $history = count('history');
$r = $t->http(POST => "$COMPLETE/$task->{id}", token => $tok{admin});
is $r->{status}, 204, 'completed already: 204';
is scalar $t->psql("SELECT completed_on || '|' || completed_by_id FROM tasks"
    . " WHERE id = $task->{id}"), "$on|$id{tech1}", 'completed already: '
    . 'the task is unchanged';
is count('history'), $history, 'completed already: no history';
is scalar $t->psql("SELECT version FROM tickets WHERE id = $tid"),
    $version + 1, 'completed already: the ticket is unchanged';

$r = $t->http(POST => "/api/ticketsapi/TASKS/complete/$task2->{id}",
    token => $tok{tech2});
is $r->{status}, 204, 'Tickets.Update, any case of the path: 204';
$r = $t->http(GET => $TASKS, token => $tok{member1});
my %done = map { $_->{id} => $_ } @{$r->{json} // []};
ok $done{$task->{id}}{isCompleted} && $done{$task2->{id}}{isCompleted},
    'both are completed';
is_deeply $done{$task->{id}}{completedBy}, person($id{tech1}),
    'completedBy tech1';
is_deeply $done{$task2->{id}}{completedBy}, person($id{tech2}),
    'completedBy tech2';
like $done{$task->{id}}{completedOn} // '', qr/Z$/, 'completedOn';

# A deleted ticket hides its tasks.
$r = $t->form_post($TASKS, [Title => 'Too late', AssignedUser => $id{tech1}],
    token => $tok{admin});
my $late = $r->{json}{id};
$t->psql("UPDATE tickets SET is_deleted = true, deleted_on = now()"
    . " WHERE id = $tid");
$t->problem_ok($t->http(POST => "$COMPLETE/$late", token => $tech1_bare), 404,
    'a task of a deleted ticket: 404');
$t->problem_ok($t->http(GET => $TASKS, token => $tok{admin}), 404,
    'the tasks of a deleted ticket: 404');

# Deleted tickets leave the list of their requester too.
$r = list([username => 'member1']);
ok !grep({ $_->{id} == $tid } @{$r->{json} // []}),
    'list: a deleted ticket is left out';

done_testing;
