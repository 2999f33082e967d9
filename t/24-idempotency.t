#!/usr/bin/perl

# Idempotency-Key on the writes that change a ticket (issue 13): update,
# close, resolve, reopen, escalate, delete and task completion.  For each:
# the first answer, the same key and request again (the first answer
# replayed, nothing written twice, even where the write without a key would
# now answer otherwise), the same key with another request (400, nothing
# written), a refused request that keeps no key, and the key kept in the
# same transaction as the change.

use strict;
use warnings;
use utf8;

use Test::More;
use Tickets::Test;

my $t = Tickets::Test->new->run;
my $admin = $t->token('admin');
my $tech1 = $t->token('tech1');
my %U = map { $_ => $t->user_id($_) } qw(admin tech1 tech2 member1);
my $n = 0;

$t->ctl_ok('setting', 'set', 'public_base_url', $t->url(''));

sub ticket {
    my (%o) = @_;
    my $r = $t->form_post('/api/TicketsApi/register', [Title => 'Printer',
        Description => 'Jammed.', CreatorId => $U{member1}, SiteId => 1,
        DepartmentId => 1, TicketStatusId => 1, TicketType => 'Incident',
        %o], token => $admin);
    die "register: $r->{status} $r->{content}" unless $r->{status} == 201;
    return $r->{json}{id};
}

sub key { 'idem-' . ++$n . '-' . $$ }

sub post {
    my ($path, $fields, $key, %o) = @_;
    return $t->form_post("/api/TicketsApi/$path", $fields,
        token => $o{token} // $admin,
        headers => { ($key ? ('Idempotency-Key' => $key) : ()),
                     %{$o{headers} // {}} });
}

# Everything a write of the ticket touches.
sub state_of {
    my ($id) = @_;
    return scalar $t->psql("SELECT concat_ws('|', (SELECT t::text FROM"
        . " tickets t WHERE id = $id),"
        . join(', ', map { "(SELECT count(*) FROM $_ WHERE ticket_id = $id)" }
            qw(history conversations outbox closures resolutions close_links
               tasks))
        . ", (SELECT string_agg(k::text, ',' ORDER BY k.key)"
        . " FROM idempotency_keys k))");
}

sub keys_of {
    my ($key) = @_;
    return scalar $t->psql('SELECT count(*) FROM idempotency_keys WHERE key = '
        . Tickets::Test::quote($key));
}

# The steps every route goes through.  first: a code ref that sends the
# request with a key; other: the same with another request.
sub replay_ok {
    my (%o) = @_;
    my ($name, $id, $status) = @o{qw(name id status)};
    my $key = key();
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    my $r1 = $o{send}->($key);
    is $r1->{status}, $status, "$name: $status" or diag $r1->{content};
    is keys_of($key), 1, "$name: the key is kept";
    my $after = state_of($id);

    my $r2 = $o{send}->($key);
    is $r2->{status}, $r1->{status}, "$name, again: the first status";
    is $r2->{content} // '', $r1->{content} // '',
        "$name, again: the first body";
    is $r2->{headers}{etag}, $r1->{headers}{etag},
        "$name, again: the first ETag";
    is state_of($id), $after, "$name, again: nothing written";

    my $r3 = $o{other}->($key);
    $t->problem_ok($r3, 400, "$name, the key with another request: 400");
    like $r3->{json}{detail} // '', qr/reused with a different request/,
        "$name: saying so";
    is state_of($id), $after, "$name, another request: nothing written";

    if ($o{without}) {
        my $r4 = $o{send}->(undef);
        is $r4->{status}, $o{without}, "$name, again without a key: "
            . "$o{without} (what the key spares the client)";
    }
    return $r1;
}

# update: a retry whose If-Match is stale by its own first write
{
    my $id = ticket();
    my $etag = $t->http(GET => "/api/TicketsApi/$id", token => $admin)
        ->{headers}{etag};
    replay_ok(name => 'update', id => $id, status => 204, without => 412,
        send => sub { post("update/$id", [Id => $id, TicketPriorityId => 3],
            $_[0], headers => { 'If-Match' => $etag }) },
        other => sub { post("update/$id", [Id => $id, TicketPriorityId => 2],
            $_[0], headers => { 'If-Match' => $etag }) });
    is $t->psql("SELECT priority_id FROM tickets WHERE id = $id"), 3,
        'update: written once';

    # the If-Match is part of the request
    my $key = key();
    is post("update/$id", [Id => $id, TicketPriorityId => 1], $key)->{status},
        204, 'update without If-Match';
    $t->problem_ok(post("update/$id", [Id => $id, TicketPriorityId => 1],
        $key, headers => { 'If-Match' => '"x"' }), 400,
        'update: the key with another If-Match: 400');

    # a refused update keeps no key: the corrected request may use it
    $key = key();
    my $before = state_of($id);
    $t->problem_ok(post("update/$id", [Id => $id, TicketPriorityId => 999],
        $key), 400, 'update with an unknown priority: 400');
    is keys_of($key), 0, 'update refused: no key kept';
    is state_of($id), $before, 'update refused: nothing written';
    is post("update/$id", [Id => $id, TicketPriorityId => 2], $key)->{status},
        204, 'update: the key of a refused request, corrected: 204';
}

# close: the acknowledgement email queued once
{
    my $id = ticket();
    replay_ok(name => 'close', id => $id, status => 204, without => 200,
        send => sub { post("close/$id", [TicketId => $id, CloseBy => $U{tech1},
            Acknowledged => 'true', Comments => 'Fixed.'], $_[0]) },
        other => sub { post("close/$id", [TicketId => $id,
            CloseBy => $U{tech1}, Acknowledged => 'true',
            Comments => 'Fixed!'], $_[0]) });
    is $t->psql("SELECT count(*) FROM outbox WHERE ticket_id = $id"), 1,
        'close: one email';
}

# resolve: one close link, one email
{
    my $id = ticket();
    replay_ok(name => 'resolve', id => $id, status => 204,
        send => sub { post("resolve/$id", [TicketId => $id,
            ResolvedBy => $U{tech1}, Resolution => 'Cleared.'], $_[0]) },
        other => sub { post("resolve/$id", [TicketId => $id,
            ResolvedBy => $U{tech1}, Resolution => 'Cleared!'], $_[0]) });
    is $t->psql("SELECT count(*) FROM close_links WHERE ticket_id = $id"), 1,
        'resolve: one close link';

    # reopen, no body: the scope alone makes the request
    replay_ok(name => 'reopen', id => $id, status => 204, without => 200,
        send => sub { post("reopen/$id", [], $_[0]) },
        other => sub { post('reopen/' . ticket(), [], $_[0]) });
    is $t->psql("SELECT count(*) FROM conversations WHERE ticket_id = $id"
        . " AND type = 'Reopen'"), 1, 'reopen: one Reopen conversation';
}

# escalate: a retry does not escalate twice
{
    my $id = ticket(AssignedUser => $U{tech1});
    replay_ok(name => 'escalate', id => $id, status => 204,
        send => sub { post("escalate/$id", [Reason => 'VIP'], $_[0]) },
        other => sub { post("escalate/$id", [Reason => 'VIP', GroupId => 1],
            $_[0]) });
    is $t->psql("SELECT count(*) FROM conversations WHERE ticket_id = $id"
        . " AND type = 'Escalation'"), 1, 'escalate: one Escalation';
}

# task completion
{
    my $id = ticket();
    my $task = $t->form_post("/api/TicketsApi/$id/tasks", [Title => 'Call',
        AssignedUser => $U{tech1}], token => $admin)->{json}{id};
    my $other = $t->form_post("/api/TicketsApi/$id/tasks", [Title => 'Mail',
        AssignedUser => $U{tech1}], token => $admin)->{json}{id};
    replay_ok(name => 'task completion', id => $id, status => 204,
        send => sub { post("tasks/complete/$task", [], $_[0],
            token => $tech1) },
        other => sub { post("tasks/complete/$other", [], $_[0],
            token => $tech1) });
    is $t->psql("SELECT count(*) FROM history WHERE ticket_id = $id"
        . " AND field = 'TaskCompleted'"), 1, 'task completion: once';
}

# delete: the retry gets the deleted model, not 404
{
    my $id = ticket();
    my $other = ticket();
    my $del = sub {
        my ($tid, $key) = @_;
        $t->http(DELETE => "/api/TicketsApi/$tid", token => $admin,
            headers => { $key ? ('Idempotency-Key' => $key) : () });
    };
    my $r = replay_ok(name => 'delete', id => $id, status => 200,
        without => 404,
        send => sub { $del->($id, $_[0]) },
        other => sub { $del->($other, $_[0]) });
    is $r->{json}{isDeleted}, JSON::PP::true, 'delete: the deleted model';
    is $t->psql("SELECT is_deleted FROM tickets WHERE id = $other"), 'f',
        'delete: the other ticket is not deleted';
}

# the key is checked on every write
{
    my $id = ticket();
    my $before = state_of($id);
    $t->problem_ok(post("escalate/$id", [Reason => 'x'], 'k' x 256), 400,
        'a key of 256 bytes: 400');
    $t->problem_ok($t->http(DELETE => "/api/TicketsApi/$id", token => $admin,
        headers => { 'Idempotency-Key' => 'k' x 256 }), 400,
        'a key of 256 bytes on a delete: 400');
    is state_of($id), $before, 'bad keys: nothing written';
}

done_testing;
