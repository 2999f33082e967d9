#!/usr/bin/perl

# Webhook subscriptions (docs/webhooks.md): the Admin API and its
# refusals; every event, written with its change and delivered to the
# real HTTP recorder by TCP and by a unix socket, signed with the
# subscription's own secret; one delivery per subscription; retries, the
# reason of a failure, automatic pause and its visibility; redelivery;
# exactly one delivery per subscription with two nginx over one database.

use strict;
use warnings;
use utf8;

use Digest::SHA qw(hmac_sha256_hex);
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);
use Tickets::Sink;
use Tickets::Test;

my $API = '/api/TicketsApi';
my $JSON = JSON::PP->new->utf8->canonical;
my $JOBS = "    tickets_outbox_interval 200ms;\n";

my @EVENTS = qw(ticket.created ticket.updated ticket.status_changed
    ticket.assigned conversation.added ticket.resolved ticket.closed
    ticket.reopened ticket.escalated ticket.deleted ticket.sla_breached);

my $t = Tickets::Test->new;
my $sink = Tickets::Sink->new(dir => $t->dir . '/sink');
$sink->start_http;

sub set { $t->ctl_ok('setting', 'set', @_) }

set(outbox_retry_base_seconds => 1);
set(outbox_retry_max_seconds => 1);
set(escalation_interval_seconds => 1);
set(webhook_pause_after_failures => 3);

$t->run(jobs => 1, http_extra => $JOBS);

my $admin = $t->token('admin');
my $tech1 = $t->token('tech1');
my $member1 = $t->token('member1');
my %U = map { $_ => $t->user_id($_) } qw(admin tech1 tech2 member1);

sub hook_post {
    my ($path, $fields, $token) = @_;
    return $t->form_post($path, $fields, token => $token // $admin);
}

sub hook_patch {
    my ($id, $fields, $token) = @_;
    my $body = join '&', map {
        Tickets::Test::urlencode($fields->[2 * $_]) . '='
            . Tickets::Test::urlencode($fields->[2 * $_ + 1])
    } 0 .. @$fields / 2 - 1;
    return $t->http(PATCH => "/api/webhooks/$id", token => $token // $admin,
        body => $body,
        headers => { 'Content-Type' => 'application/x-www-form-urlencoded' });
}

sub hook_get {
    my ($path, $token) = @_;
    return $t->http(GET => $path, token => $token // $admin);
}

# A ticket made in SQL: no event.
sub ticket {
    my (%o) = @_;
    return scalar $t->psql('INSERT INTO tickets (title, description,'
        . ' requester_id, assignee_id, created_by_id, site_id, department_id,'
        . " status_id, due_date) VALUES ('Webhook test', 'from t/45',"
        . " '$U{member1}', "
        . Tickets::Test::quote($o{assignee} ? $U{$o{assignee}} : undef)
        . ", '$U{admin}', 1, 1, " . ($o{status} // 1) . ', '
        . ($o{due} // 'NULL') . ') RETURNING id');
}

sub post {
    my ($op, $id, $fields, $token) = @_;
    return $t->form_post("$API/$op/$id", $fields, token => $token // $admin);
}

# The recorded requests to path for a ticket (and an event).
sub requests_of {
    my ($path, $id, $event, $n, $timeout) = @_;
    return map { $_->{json} = $JSON->decode($_->{body}); $_ }
        $sink->wait_requests(sub {
            my $j = eval { $JSON->decode($_[0]{body}) } // {};
            $_[0]{path} eq $path && ($j->{ticketId} // '') eq $id
                && (!$event || $j->{event} eq $event)
        }, $n // 1, $timeout // 8);
}

# Waits until the query (one boolean) answers true.
sub wait_sql {
    my ($sql, $timeout) = @_;
    my $until = time + ($timeout // 8);
    my $v;
    sleep 0.1 until ($v = $t->psql("SELECT coalesce(($sql)::int, 0)"))
        || time > $until;
    return $v;
}

sub wait_log {
    my ($re, $timeout) = @_;
    my $until = time + ($timeout // 8);
    sleep 0.1 until $t->error_log =~ $re || time > $until;
    return $t->error_log =~ $re;
}

# The signature as docs/webhooks.md tells a receiver to check it.
sub signed_ok {
    my ($q, $secret, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $ts = $q->{headers}{'x-tickets-timestamp'} // '';
    is $q->{headers}{'x-tickets-signature'},
        'sha256=' . hmac_sha256_hex("$ts.$q->{body}", $secret),
        "$name: signed with the subscription's secret";
    ok abs(time - $ts) < 300, "$name: a current timestamp";
}


# The API ------------------------------------------------------------------

my $r = hook_get('/api/webhooks', $tech1);
$t->problem_ok($r, 403, 'list as a Technician: 403');
$t->problem_ok(hook_post('/api/webhooks', [url => $sink->http_url('/x'),
    events => 'ticket.created'], $member1), 403, 'create as a Member: 403');
$t->problem_ok($t->http(GET => '/api/webhooks'), 401, 'no token: 401');

$r = hook_get('/api/webhooks');
is $r->{status}, 200, 'list: 200';
is_deeply $r->{json}, [], 'list: none yet';

for my $bad ('ftp://example.com/x', 'http://', 'http://user:pw@example.com/',
             'https://example.com/#frag', 'unix:relative.sock:/x',
             'http://exa mple.com/', "http://example.com/\x{e9}",
             'http://-bad.example.com/', 'http://example.com:99999/',
             'example.com/hook', 'x' x 2100)
{
    $r = hook_post('/api/webhooks', [url => $bad, events => 'ticket.created']);
    $t->problem_ok($r, 400, "url '" . substr($bad, 0, 30) . "': 400");
    ok $r->{json}{errors}{url}, "url '" . substr($bad, 0, 30)
        . "': the url field named";
}

$r = hook_post('/api/webhooks', [url => $sink->http_url('/a'),
    events => 'ticket.created,ticket.exploded']);
$t->problem_ok($r, 400, 'an unknown event: 400');
like $r->{json}{errors}{events}[0], qr/ticket\.exploded/,
    'an unknown event: named';
$r = hook_post('/api/webhooks', [url => $sink->http_url('/a')]);
$t->problem_ok($r, 400, 'no events: 400');
$r = hook_post('/api/webhooks', [url => ' ', events => 'ticket.created']);
$t->problem_ok($r, 400, 'a blank url: 400');
like $r->{json}{errors}{url}[0], qr/required/, 'a blank url: required';
$r = hook_post('/api/webhooks', [url => $sink->http_url('/a'),
    events => 'ticket.created', active => 'maybe']);
$t->problem_ok($r, 400, 'active not a boolean: 400');
is $t->psql('SELECT count(*) FROM webhooks'), 0, 'refusals stored nothing';

# A: every event, by TCP.  B: ticket.created only, by the unix socket.
$r = hook_post('/api/webhooks', [url => $sink->http_url('/a'),
    map { (events => $_) } @EVENTS]);
is $r->{status}, 201, 'create: 201' or diag $r->{content};
my $A = $r->{json};
like $A->{secret}, qr/^whsec_[0-9a-f]{64}$/, 'create: the secret, once';
is $r->{headers}{location}, "/api/webhooks/$A->{id}", 'create: Location';
is_deeply $A->{events}, \@EVENTS, 'create: the events';
ok $A->{active}, 'create: active';
is $A->{consecutiveFailures}, 0, 'create: no failures';

$r = hook_post('/api/webhooks', [url => $sink->unix_url('/b'),
    events => 'ticket.created ticket.created']);
is $r->{status}, 201, 'create on a unix socket: 201' or diag $r->{content};
my $B = $r->{json};
is_deeply $B->{events}, ['ticket.created'], 'create: events without repeats';
isnt $B->{secret}, $A->{secret}, 'each subscription its own secret';

$r = hook_get("/api/webhooks/$A->{id}");
is $r->{status}, 200, 'get: 200';
ok !exists $r->{json}{secret}, 'get: never the secret again';
is $r->{json}{url}, $sink->http_url('/a'), 'get: the url';
$r = hook_get('/api/webhooks');
is_deeply [map { $_->{id} } @{$r->{json}}], [$A->{id}, $B->{id}],
    'list: both';
ok !(grep { exists $_->{secret} } @{$r->{json}}), 'list: no secret';
$t->problem_ok(hook_get('/api/webhooks/999999'), 404, 'get unknown: 404');
$t->problem_ok(hook_patch(999999, [active => 'false']), 404,
    'patch unknown: 404');
$t->problem_ok(hook_patch($A->{id}, [active => 'false'], $tech1), 403,
    'patch as a Technician: 403');
$t->problem_ok(hook_patch($A->{id}, [url => 'gopher://x']), 400,
    'patch a bad url: 400');
$r = hook_patch($A->{id}, [url => '', active => '']);
is $r->{status}, 200, 'patch with blank fields: 200';
is $r->{json}{url}, $sink->http_url('/a'), 'patch with blank fields: kept';
ok $r->{json}{active}, 'patch with blank fields: still active';
$t->problem_ok($t->http(PUT => "/api/webhooks/$A->{id}", token => $admin),
    405, 'PUT: 405');
like $t->http(PUT => "/api/webhooks/$A->{id}", token => $admin)
    ->{headers}{allow}, qr/PATCH/, '405: Allow names PATCH';

# C: paused from the start, gets nothing.
$r = hook_post('/api/webhooks', [url => $sink->http_url('/c'),
    events => 'ticket.created', active => 'false']);
is $r->{status}, 201, 'create paused: 201';
my $C = $r->{json};
ok !$C->{active}, 'create paused: not active';
is $C->{pausedReason}, 'paused by an administrator', 'create paused: why';


# Every event ------------------------------------------------------------

$r = $t->form_post("$API/register", [Title => 'Hooked printer',
    Description => 'It prints stripes.', CreatorId => $U{member1},
    SiteId => 1, DepartmentId => 1, TicketStatusId => 1,
    TicketType => 'Incident', AssignedUser => $U{tech1}], token => $admin);
is $r->{status}, 201, 'register: 201' or diag $r->{content};
my $id = $r->{json}{id};

my @q = requests_of('/a', $id, 'ticket.created');
is scalar @q, 1, 'ticket.created: one delivery to A';
my $q = $q[0];
signed_ok($q, $A->{secret}, 'ticket.created');
is $q->{headers}{'x-tickets-event'}, 'ticket.created', 'header: the event';
is $q->{headers}{'idempotency-key'}, $q->{json}{id},
    'header: Idempotency-Key is the delivery id';
is $q->{json}{channel}, 'subscription', 'body: channel';
is $q->{json}{data}{webhookId}, $A->{id}, 'body: the subscription';
is $q->{json}{data}{ticket}{title}, 'Hooked printer', 'body: the ticket';
is $q->{json}{data}{ticket}{assigneeId}, $U{tech1}, 'body: its assignee';
is $q->{json}{data}{changedById}, $U{admin}, 'body: who';
@q = requests_of('/a', $id, 'ticket.assigned');
is scalar @q, 1, 'register with a technician: ticket.assigned';
@q = requests_of('/b', $id, 'ticket.created');
is scalar @q, 1, 'ticket.created: one delivery to B';
is $q[0]{via}, 'unix', 'B: by the unix socket';
signed_ok($q[0], $B->{secret}, 'B');
is $t->psql("SELECT count(*) FROM outbox WHERE webhook_id = $C->{id}"), 0,
    'the paused subscription: no delivery';

# update: field changes, status and assignee
$r = post(update => $id, [AssignedUser => $U{tech2}, TicketStatusId => 2,
    TicketPriorityId => 3]);
is $r->{status}, 204, 'update: 204' or diag $r->{content};
@q = requests_of('/a', $id, 'ticket.updated');
is scalar @q, 1, 'ticket.updated: one delivery';
my %ch = map { $_->{field} => $_ } @{$q[0]{json}{data}{changes}};
is $ch{status}{oldValue}, 'Open', 'ticket.updated: status from';
is $ch{status}{newValue}, 'In Progress', 'ticket.updated: status to';
is $ch{priority}{newValue}, 'High', 'ticket.updated: priority';
ok $ch{assignee}, 'ticket.updated: assignee';
@q = requests_of('/a', $id, 'ticket.status_changed');
is scalar @q, 1, 'ticket.status_changed';
is $q[0]{json}{data}{newStatus}, 'In Progress',
    'ticket.status_changed: the new status';
@q = requests_of('/a', $id, 'ticket.assigned', 2);
is scalar @q, 2, 'ticket.assigned again on reassignment';
is $q[-1]{json}{data}{assigneeId}, $U{tech2}, 'ticket.assigned: to whom';

# a reply: conversation.added
$r = post(reply => $id, [Id => $id, Title => 'Re: printer',
    SendTo => 'member1@example.com', Message => 'On it.']);
is $r->{status}, 200, 'reply: 200' or diag $r->{content};
@q = requests_of('/a', $id, 'conversation.added');
is scalar @q, 1, 'conversation.added';
is $q[0]{json}{data}{conversation}{type}, 'Reply',
    'conversation.added: the type';
is $q[0]{json}{data}{conversation}{message}, 'On it.',
    'conversation.added: the text';

# resolve, reopen, close
$r = post(resolve => $id, [TicketId => $id, ResolvedBy => $U{tech1},
    Resolution => 'New drum.']);
is $r->{status}, 204, 'resolve: 204' or diag $r->{content};
@q = requests_of('/a', $id, 'ticket.resolved');
is scalar @q, 1, 'ticket.resolved';
is $q[0]{json}{data}{ticket}{statusType}, 'Resolved',
    'ticket.resolved: the ticket as it is now';
$r = post(reopen => $id, []);
ok $r->{status} == 204 || $r->{status} == 200, 'reopen'
    or diag $r->{content};
@q = requests_of('/a', $id, 'ticket.reopened');
is scalar @q, 1, 'ticket.reopened';
$r = post(close => $id, [TicketId => $id, CloseBy => $U{tech1},
    Acknowledged => 'true', Comments => 'Done.']);
is $r->{status}, 204, 'close: 204' or diag $r->{content};
@q = requests_of('/a', $id, 'ticket.closed');
is scalar @q, 1, 'ticket.closed';

# escalate by hand: escalated, no SLA breach
my $e = ticket(assignee => 'tech1');
$r = post(escalate => $e, [Reason => 'VIP'], $tech1);
is $r->{status}, 204, 'escalate: 204' or diag $r->{content};
@q = requests_of('/a', $e, 'ticket.escalated');
is scalar @q, 1, 'ticket.escalated';
ok !$q[0]{json}{data}{automatic}, 'ticket.escalated: by hand';

# the escalation job: escalated and SLA breached
my $late = ticket(assignee => 'tech1', due => "now() - interval '1 minute'");
@q = requests_of('/a', $late, 'ticket.sla_breached');
is scalar @q, 1, 'ticket.sla_breached by the escalation job';
@q = requests_of('/a', $late, 'ticket.escalated');
ok $q[0] && $q[0]{json}{data}{automatic}, 'ticket.escalated: automatic';

# delete
$r = $t->http(DELETE => "$API/$e", token => $admin);
is $r->{status}, 200, 'delete: 200' or diag $r->{content};
@q = requests_of('/a', $e, 'ticket.deleted');
is scalar @q, 1, 'ticket.deleted';

# each delivery once: what A received is what its outbox rows sent
ok wait_sql("SELECT NOT EXISTS (SELECT FROM outbox WHERE webhook_id ="
    . " $A->{id} AND status <> 'sent')"), 'every delivery to A sent';
my (%seen, @twice);
for my $q (grep { $_->{path} eq '/a' } $sink->requests) {
    my $j = $JSON->decode($q->{body});
    push @twice, $j->{id} if $seen{$j->{id}}++;
    $seen{"$j->{ticketId} $j->{event}"}++;
}
is_deeply \@twice, [], 'no delivery twice';
is_deeply [sort grep { /-/ } keys %seen],
    [sort map { $_->{uuid} } $t->rows("SELECT uuid FROM outbox WHERE"
        . " webhook_id = $A->{id}")], 'each delivery of A received';
is_deeply [sort grep { $seen{"$id $_"} } @EVENTS],
    [sort grep { !/escalated|deleted|sla_breached/ } @EVENTS],
    'the ticket of the API went through its events';

# a failed write queues nothing
my $before = $t->psql('SELECT count(*) FROM outbox WHERE webhook_id IS NOT'
    . ' NULL');
$r = post(update => $id, [TicketStatusId => 99999]);
is $r->{status}, 400, 'a refused update: 400';
is $t->psql('SELECT count(*) FROM outbox WHERE webhook_id IS NOT NULL'),
    $before, 'a refused update: no event';

# PATCH: events and url
$r = hook_patch($B->{id}, [events => 'conversation.added',
    url => $sink->http_url('/b2')]);
is $r->{status}, 200, 'patch: 200' or diag $r->{content};
is_deeply $r->{json}{events}, ['conversation.added'], 'patch: events';
is $r->{json}{url}, $sink->http_url('/b2'), 'patch: url';
ok !exists $r->{json}{secret}, 'patch: no secret';


# Deliveries, failures, auto-pause, redelivery ----------------------------

$r = hook_get("/api/webhooks/$A->{id}/deliveries");
is $r->{status}, 200, 'deliveries: 200';
ok scalar @{$r->{json}} >= 10, 'deliveries: the recent ones';
is $r->{json}[0]{status}, 'sent', 'deliveries: newest first, sent';
ok $r->{json}[0]{lastAttemptOn}, 'deliveries: when tried';
$t->problem_ok(hook_get('/api/webhooks/999999/deliveries'), 404,
    'deliveries of an unknown webhook: 404');
my $sent = $r->{json}[0];

$sink->http_status(500);
my $f = ticket(assignee => 'tech1');
post(reply => $f, [Id => $f, Title => 'Fail', SendTo => 'x@example.com',
    Message => 'x']);
my $paused = wait_sql("SELECT NOT is_active FROM webhooks WHERE id ="
    . " $A->{id}", 15);
ok wait_log(qr/webhook $A->{id} paused after 3/), 'the pause logged';
ok $paused, 'A paused after 3 failed attempts';
$r = hook_get("/api/webhooks/$A->{id}");
ok !$r->{json}{active}, 'paused: visible in GET';
# attempts under way when it was paused still count
ok $r->{json}{consecutiveFailures} >= 3, 'paused: the failures counted';
like $r->{json}{pausedReason},
    qr/^paused automatically after 3 consecutive failed attempts: .*HTTP 500/,
    'paused: the reason';
like $r->{json}{lastError}, qr/HTTP 500/, 'paused: the last error';
$r = hook_get("/api/webhooks/$A->{id}/deliveries");
my ($failing) = grep { ($_->{ticketId} // 0) == $f } @{$r->{json}};
ok $failing && $failing->{status} eq 'pending' && $failing->{attempts} >= 1,
    'a delivery that failed waits, with its attempts';
like $failing->{lastError}, qr/answered HTTP 500/, 'and why it failed';

# paused: nothing new is queued for it, nothing claimed
my $n = $t->psql("SELECT count(*) FROM outbox WHERE webhook_id = $A->{id}");
post(update => $f, [TicketPriorityId => 1]);
is $t->psql("SELECT count(*) FROM outbox WHERE webhook_id = $A->{id}"), $n,
    'paused: no new delivery';
$t->problem_ok($t->http(POST => "/api/webhooks/$A->{id}/deliveries/"
    . "$sent->{id}/redeliver", token => $admin), 409,
    'redeliver while paused: 409');

# a permanent refusal: failed at once, with the reason
$sink->http_status(200);
$r = hook_patch($A->{id}, [active => 'true']);
is $r->{status}, 200, 'resume: 200';
ok $r->{json}{active}, 'resume: active';
is $r->{json}{consecutiveFailures}, 0, 'resume: the count starts again';
is $r->{json}{pausedReason}, undef, 'resume: no reason';
@q = requests_of('/a', $f, 'conversation.added');
is scalar @q, 1, 'resumed: the waiting delivery arrives';
ok $q[0]{headers}{'x-tickets-attempt'} > 1, 'resumed: a later attempt';
wait_sql("SELECT consecutive_failures = 0 AND last_success_on IS NOT NULL"
    . " FROM webhooks WHERE id = $A->{id}");
is $t->psql("SELECT consecutive_failures FROM webhooks WHERE id ="
    . " $A->{id}"), 0, 'a success resets the count';

ok wait_sql("SELECT NOT EXISTS (SELECT FROM outbox WHERE webhook_id ="
    . " $A->{id} AND status <> 'sent')"), 'every waiting delivery sent';

# 0: never paused, whatever fails
set(webhook_pause_after_failures => 0);
$sink->http_status(410);
my $g = ticket(assignee => 'tech1');
post(reply => $g, [Id => $g, Title => 'Gone', SendTo => 'x@example.com',
    Message => 'x']);
ok wait_sql("SELECT count(*) = 2 FROM outbox WHERE webhook_id = $A->{id}"
    . " AND ticket_id = $g AND status = 'failed' AND attempts = 1"),
    'a 410: failed at once';
is $t->psql("SELECT is_active FROM webhooks WHERE id = $A->{id}"), 't',
    'pause after 0 failures: never paused';
set(webhook_pause_after_failures => 3);
$r = hook_get("/api/webhooks/$A->{id}/deliveries");
my ($gone) = grep { ($_->{ticketId} // 0) == $g
    && $_->{event} eq 'conversation.added' } @{$r->{json}};
is $gone->{status}, 'failed', 'deliveries: failed';
like $gone->{lastError}, qr/HTTP 410/, 'deliveries: the reason';
$sink->http_status(200);

$r = hook_post("/api/webhooks/$A->{id}/deliveries/$gone->{id}/redeliver",
    []);
is $r->{status}, 200, 'redeliver: 200' or diag $r->{content};
is $r->{json}{status}, 'pending', 'redeliver: queued';
is $r->{json}{attempts}, 0, 'redeliver: attempts reset';
@q = requests_of('/a', $g, 'conversation.added');
is scalar @q, 1, 'redelivered';
is $q[0]{headers}{'idempotency-key'}, $gone->{uuid},
    'redelivered with the same Idempotency-Key';
ok wait_sql("SELECT status = 'sent' FROM outbox WHERE id = $gone->{id}"),
    'redelivered: sent';
$t->problem_ok($t->http(POST => "/api/webhooks/$A->{id}/deliveries/999999/"
    . 'redeliver', token => $admin), 404, 'redeliver unknown: 404');
$t->problem_ok($t->http(POST => "/api/webhooks/$B->{id}/deliveries/"
    . "$gone->{id}/redeliver", token => $admin), 404,
    "redeliver another subscription's delivery: 404");
$t->problem_ok($t->http(POST => "/api/webhooks/$A->{id}/deliveries/"
    . "$gone->{id}/redeliver", token => $tech1), 403,
    'redeliver as a Technician: 403');


# Two nginx over one database: one delivery per subscription -------------

# B failed with A meanwhile
for my $w ($A, $B) {
    is hook_patch($w->{id}, [active => 'true'])->{status}, 200,
        "resume $w->{id}";
}
ok wait_sql("SELECT NOT EXISTS (SELECT FROM outbox WHERE webhook_id"
    . " IS NOT NULL AND status = 'pending')"), 'nothing left waiting';
my $t2 = Tickets::Test->new(pg_from => $t)->run(jobs => 1,
    http_extra => $JOBS);
my @ids;
for my $i (1 .. 10) {
    my $tid = ticket(assignee => 'tech1');
    push @ids, $tid;
    ($i % 2 ? $t : $t2)->form_post("$API/reply/$tid", [Id => $tid,
        Title => "Both $i", SendTo => 'both@example.com', Message => 'x'],
        token => $admin);
}
my %got;
for my $tid (@ids) {
    $got{$tid} = scalar requests_of('/a', $tid, 'conversation.added');
    $got{"b$tid"} = scalar requests_of('/b2', $tid, 'conversation.added');
}
sleep 1.5;
for my $q ($sink->requests) {
    my $j = eval { $JSON->decode($q->{body}) } or next;
    next unless ($j->{event} // '') eq 'conversation.added';
    $got{"n$q->{path}$j->{ticketId}"}++;
}
is_deeply [map { $got{"n/a$_"} // 0 } @ids], [(1) x 10],
    'two nginx: each event once to A';
is_deeply [map { $got{"n/b2$_"} // 0 } @ids], [(1) x 10],
    'two nginx: each event once to B';

# DELETE
$r = $t->http(DELETE => "/api/webhooks/$B->{id}", token => $admin);
is $r->{status}, 204, 'delete: 204';
$t->problem_ok(hook_get("/api/webhooks/$B->{id}"), 404, 'deleted: 404');
$t->problem_ok($t->http(DELETE => "/api/webhooks/$B->{id}", token => $admin),
    404, 'delete again: 404');
is $t->psql("SELECT count(*) FROM outbox WHERE webhook_id = $B->{id}"), 0,
    'deleted: its deliveries with it';

$t2->stop_nginx;
unlike $t->error_log . $t2->error_log, qr/\[(?:alert|crit|emerg)\]/,
    'no alert in the error logs';

done_testing;
