#!/usr/bin/perl

# Close, resolve, the close link and reopen (seed 7, SPEC 3.7-3.9): each
# success with the rows it writes, each refusal with nothing written, the
# already-done answers, the outbox rows, and the close link with no JWT: its
# GET (what a mail gateway's link scanner fetches) only shows a page, its
# POST closes.

use strict;
use warnings;
use utf8;

use Test::More;
use Tickets::Test;

my $t = Tickets::Test->new->run;
my $admin = $t->token('admin');
my $tech1 = $t->token('tech1');
my $member1 = $t->token('member1');
my $member2 = $t->token('member2', permissions => [qw(Tickets.Create
    Tickets.Update Tickets.Close Tickets.Resolve)]);
my %U = map { $_ => $t->user_id($_) } qw(admin tech1 tech2 member1 member2);
my $GUID_RE = qr/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

# the close link must reach this server
$t->ctl_ok('setting', 'set', 'public_base_url', $t->url(''));

# A ticket of the requester in a status (1 Open .. 7 Reopened): its id.
sub ticket {
    my ($requester, $status, $cc) = @_;
    return scalar $t->psql('INSERT INTO tickets (title, description,'
        . ' requester_id, created_by_id, site_id, department_id, status_id,'
        . ' cc, resolved_on, closed_on) VALUES (\'Toner empty\', \'22\', '
        . Tickets::Test::quote($U{$requester}) . ', '
        . Tickets::Test::quote($U{admin}) . ", 1, 1, $status, "
        . Tickets::Test::quote($cc) . ', '
        . ($status == 5 || $status == 6 ? "now() - interval '2 days'" : 'NULL')
        . ', ' . ($status == 6 ? "now() - interval '1 day'" : 'NULL')
        . ') RETURNING id');
}

sub post {
    my ($op, $id, $fields, $token) = @_;
    return $t->form_post("/api/TicketsApi/$op/$id", $fields, token => $token);
}

# Everything a refused or repeated request must leave as it was.
sub state_of {
    my ($id) = @_;
    return scalar $t->psql("SELECT concat_ws('|', (SELECT t::text FROM"
        . " tickets t WHERE id = $id),"
        . join(', ', map { "(SELECT count(*) FROM $_ WHERE ticket_id = $id)" }
            qw(history conversations outbox closures resolutions close_links
               attachments))
        . ", (SELECT c::text FROM closures c WHERE ticket_id = $id),"
        . " (SELECT r::text FROM resolutions r WHERE ticket_id = $id))");
}

# The close link's POST, as the page's form sends it (the token in the body
# and, the form's action being the page's own URL, in the query too).
sub confirm {
    my ($path, %o) = @_;
    my ($token) = $path =~ /token=([^&]*)/;
    return $t->form_post($path, [token => $o{token} // $token // ''],
        %o{grep { $_ ne 'token' } keys %o});
}

# What a GET of the link must leave: the ticket and the links' use.
sub link_state {
    my ($id) = @_;
    return state_of($id) . '|' . $t->psql("SELECT string_agg(coalesce("
        . "used_on::text, '-'), ',' ORDER BY id) FROM close_links"
        . " WHERE ticket_id = $id");
}

sub link_unchanged {
    my ($id, $before, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is link_state($id), $before, "$name: nothing changed";
}

sub unchanged {
    my ($id, $before, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is state_of($id), $before, "$name: nothing changed";
}

sub errors_are {
    my ($r, $fields, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    $t->problem_ok($r, 400, "$name: 400 problem");
    my $e = ref $r->{json} eq 'HASH' ? $r->{json}{errors} : undef;
    is_deeply [sort keys %{ref $e eq 'HASH' ? $e : {}}], [sort @$fields],
        "$name: errors name @$fields";
}

sub history_count {
    scalar $t->psql("SELECT count(*) FROM history WHERE ticket_id = $_[0]");
}

# A date as iso_utc() writes it (ISO 8601 UTC, whole seconds) that parses.
sub is_iso {
    my ($v) = @_;
    return defined $v && $v !~ /\./
        && defined eval { Tickets::Test::iso_epoch($v) } ? 1 : 0;
}

# The history rows of a ticket, oldest first, as "field|old|new|by" with
# NULL as '', each date as 'ISO' and each user by name.
sub history_of {
    my ($id) = @_;
    my %name = reverse %U;
    return [map {
        join '|', $_->{field},
            (map { !defined $_ ? '' : is_iso($_) ? 'ISO' : $_ }
                @$_{qw(old_value new_value)}),
            $name{$_->{changed_by_id} // ''} // '?'
    } $t->rows('SELECT field, old_value, new_value, changed_by_id'
        . " FROM history WHERE ticket_id = $id ORDER BY id")];
}

# The new value of a ticket's latest history row of field.
sub history_new {
    my ($id, $field) = @_;
    return scalar $t->psql('SELECT coalesce(new_value, \'NULL\')'
        . " FROM history WHERE ticket_id = $id AND field = '$field'"
        . ' ORDER BY id DESC LIMIT 1');
}


# Close ------------------------------------------------------------------

{
    my $id = ticket('member1', 2, 'boss@example.com;Member1@example.com');
    my $other = ticket('member1', 1);
    my $before = state_of($id);

    my $r = post(close => $id, [TicketId => $id, CloseBy => $U{tech1}],
        $member1);
    $t->problem_ok($r, 403, 'close without Tickets.Close: 403');

    $r = post(close => 999999, [TicketId => 999999, CloseBy => $U{tech1}],
        $admin);
    $t->problem_ok($r, 404, 'close an unknown ticket: 404');

    $r = post(close => $id, [TicketId => $id, CloseBy => $U{member2}],
        $member2);
    $t->problem_ok($r, 404, "a Member closing another's ticket: 404");

    errors_are(post(close => $id, [TicketId => $other, CloseBy => $U{tech1}],
        $admin), ['TicketId'], 'close with another TicketId');
    errors_are(post(close => $id, [CloseBy => $U{tech1}], $admin),
        ['TicketId'], 'close without TicketId');
    errors_are(post(close => $id, [TicketId => $id], $admin), ['CloseBy'],
        'close without CloseBy');
    $r = post(close => $id, [TicketId => $id, CloseBy => 'nobody'], $admin);
    errors_are($r, ['CloseBy'], 'close by an unknown user');
    is_deeply $r->{json}{errors}{CloseBy}, ['Unknown CloseBy nobody.'],
        'the message names the user';
    errors_are(post(close => $id, [TicketId => $id, CloseBy => $U{tech1},
        Status => 'Finished', ClosingDate => '30.11.2026',
        Acknowledged => 'maybe'], $admin),
        [qw(Status ClosingDate Acknowledged)], 'close with bad values');
    unchanged($id, $before, 'refused closes');

    # multipart with an upload, every field
    $r = $t->multipart_post("/api/TicketsApi/close/$id", [TicketId => $id,
        CloseBy => $U{tech2}, Acknowledged => 'true', Status => 'Duplicate',
        Comments => 'Same as #3.', ClosureComments => 'Merged.',
        ClosingDate => '2026-11-30T09:15:00Z'],
        files => [['Uploads', 'merge.txt', 'text/plain', 'merged']],
        token => $tech1);
    is $r->{status}, 204, 'close: 204' or diag $r->{content};
    is $r->{content} // '', '', 'close: no body';

    my $g = $t->http(GET => "/api/TicketsApi/$id", token => $admin)->{json};
    $t->ticket_ok($g, $id, 'the closed ticket');
    is $g->{status}{id}, 6, 'status is closed_status_id';
    ok defined $g->{closedOn}, 'closedOn is set';
    my $c = $g->{closure} // {};
    ok $c->{status} eq 'Duplicate' || $c->{status} eq '3', 'closure.status';
    is $c->{comments}, 'Same as #3.', 'closure.comments';
    is $c->{closureComments}, 'Merged.', 'closure.closureComments';
    is $c->{closedBy}{id}, $U{tech2}, 'closure.closedBy is CloseBy';
    is $c->{closingDate}, '2026-11-30T09:15:00Z', 'closure.closingDate';
    ok $c->{acknowledged}, 'closure.acknowledged';

    is_deeply [$t->psql("SELECT type || '|' || message || '|' || created_by_id"
        . " FROM conversations WHERE ticket_id = $id")],
        ["Closure|Same as #3.|$U{tech1}"], 'a Closure conversation';
    is_deeply [$t->psql('SELECT a.file_name FROM attachments a JOIN'
        . ' conversations c ON c.id = a.conversation_id'
        . " WHERE a.ticket_id = $id AND c.type = 'Closure'")],
        ['merge.txt'], 'the upload is on the Closure conversation';
    is_deeply history_of($id),
        ['status|In Progress|Closed|tech1', 'closedOn||ISO|tech1'],
        'history rows for the status and closedOn, by the principal';
    is history_new($id, 'closedOn'), $g->{closedOn},
        'the closedOn of the history is the ticket\'s';
    my @o = $t->rows("SELECT channel, event, recipients, payload FROM outbox"
        . " WHERE ticket_id = $id");
    is scalar @o, 1, 'Acknowledged: one notification';
    is "$o[0]{channel} $o[0]{event}", 'email Closed', 'an email, Closed';
    is_deeply $o[0]{recipients}, ['member1@example.com', 'boss@example.com'],
        'to the requester and the Cc, each once';
    is $o[0]{payload}{ticketId}, $id, 'payload ticketId';

    # already closed: 200 and nothing at all
    $before = state_of($id);
    my $h = history_count($id);
    $r = post(close => $id, [TicketId => $id, CloseBy => $U{admin},
        Acknowledged => 'true', Comments => 'again'], $admin);
    is $r->{status}, 200, 'close a closed ticket: 200';
    is_deeply $r->{json}, { message => 'Ticket was already closed.' },
        'the message of the original';
    is history_count($id), $h, 'no history row';
    unchanged($id, $before, 'already closed');

    # the least: no email without Acknowledged
    $r = post(close => $other, [TicketId => $other, CloseBy => $U{member2}],
        $admin);
    is $r->{status}, 204, 'close with only the required fields: 204';
    is_deeply [$t->psql('SELECT concat_ws(\'|\', status, comments,'
        . " acknowledged, closing_date > now() - interval '1 minute')"
        . " FROM closures WHERE ticket_id = $other")], ['f|t'],
        'closure defaults: no status, not acknowledged, closed now';
    is $t->psql("SELECT count(*) FROM outbox WHERE ticket_id = $other"), 0,
        'no email';

    # a Member with the permission closes their own, in their own name
    my $mine = ticket('member2', 1);
    $t->problem_ok(post(close => $mine, [TicketId => $mine,
        CloseBy => $U{tech1}], $member2), 403,
        'a Member closing in the name of another: 403');
    is post(close => $mine, [TicketId => $mine, CloseBy => $U{member2}],
        $member2)->{status}, 204, 'a Member closing their own: 204';
}


# Resolve ------------------------------------------------------------------

my ($resolved, $link);
{
    my $id = ticket('member1', 1, 'boss@example.com');
    my $guid = $t->psql("SELECT guid FROM tickets WHERE id = $id");
    my $before = state_of($id);

    $t->problem_ok(post(resolve => $id, [TicketId => $id,
        ResolvedBy => $U{tech1}, Resolution => 'x'], $member1), 403,
        'resolve without Tickets.Resolve: 403');
    $t->problem_ok(post(resolve => 999999, [TicketId => 999999,
        ResolvedBy => $U{tech1}, Resolution => 'x'], $admin), 404,
        'resolve an unknown ticket: 404');
    $t->problem_ok(post(resolve => $id, [TicketId => $id,
        ResolvedBy => $U{member2}, Resolution => 'x'], $member2), 404,
        "a Member resolving another's ticket: 404");
    errors_are(post(resolve => $id, [], $admin),
        [qw(TicketId ResolvedBy Resolution)], 'resolve an empty form');
    errors_are(post(resolve => $id, [TicketId => $id + 1,
        ResolvedBy => 'ghost', Resolution => 'x'], $admin),
        [qw(TicketId ResolvedBy)], 'resolve with a mismatch, unknown user');
    errors_are(post(resolve => $id, [TicketId => $id,
        ResolvedBy => $U{tech1}, Resolution => '   '], $admin),
        ['Resolution'], 'a blank Resolution');
    unchanged($id, $before, 'refused resolves');

    my $r = post(resolve => $id, [TicketId => $id, ResolvedBy => $U{tech2},
        Resolution => 'Replaced the toner.'], $tech1);
    is $r->{status}, 204, 'resolve: 204' or diag $r->{content};

    my $g = $t->http(GET => "/api/TicketsApi/$id", token => $admin)->{json};
    $t->ticket_ok($g, $id, 'the resolved ticket');
    is $g->{status}{id}, 5, 'status is resolved_status_id';
    ok defined $g->{resolvedOn}, 'resolvedOn is set';
    is $g->{resolution}{resolution}, 'Replaced the toner.', 'the resolution';
    is $g->{resolution}{resolvedBy}{id}, $U{tech2}, 'resolvedBy';
    is_deeply [$t->psql("SELECT type || '|' || message FROM conversations"
        . " WHERE ticket_id = $id")], ['Resolution|Replaced the toner.'],
        'a Resolution conversation';
    is_deeply history_of($id), ['resolution||Replaced the toner.|tech1',
        'status|Open|Resolved|tech1', 'resolvedOn||ISO|tech1'],
        'history rows for the resolution, the status and resolvedOn';
    is history_new($id, 'resolvedOn'), $g->{resolvedOn},
        'the resolvedOn of the history is the ticket\'s';

    my @o = $t->rows("SELECT channel, event, recipients, payload FROM outbox"
        . " WHERE ticket_id = $id");
    is scalar @o, 1, 'one notification: no TPI callback is configured';
    is "$o[0]{channel} $o[0]{event}", 'email Resolved', 'an email, Resolved';
    is_deeply $o[0]{recipients}, ['member1@example.com', 'boss@example.com'],
        'to the requester and the Cc';
    is $o[0]{payload}{message}, 'Replaced the toner.', 'with the resolution';
    $link = $o[0]{payload}{closeLink} // '';
    my $base = quotemeta $t->url('');
    like $link,
        qr{^$base/api/TicketsApi/confirm/$guid\?token=[A-Za-z0-9_-]{54}$},
        'and a close link';
    is $t->psql("SELECT count(*) FROM close_links WHERE ticket_id = $id"
        . ' AND used_on IS NULL'
        . " AND expires_on > now() + interval '167 hours'"),
        1, 'one close link, valid a week';

    # the same text again: 200 and nothing at all
    $before = state_of($id);
    $r = post(resolve => $id, [TicketId => $id, ResolvedBy => $U{tech1},
        Resolution => 'Replaced the toner.'], $admin);
    is $r->{status}, 200, 'resolve again with the same text: 200';
    is_deeply $r->{json}, { message => 'Ticket was already resolved.' },
        'already resolved';
    unchanged($id, $before, 'already resolved');

    $resolved = $id;
}

{
    # another text: the one resolution changes, a new link replaces the old
    my $id = $resolved;
    my $r = post(resolve => $id, [TicketId => $id, ResolvedBy => $U{tech1},
        Resolution => 'Replaced the drum.'], $admin);
    is $r->{status}, 204, 'resolve again with another text: 204';
    is_deeply [$t->psql('SELECT resolution || \'|\' || resolved_by_id FROM'
        . " resolutions WHERE ticket_id = $id")],
        ["Replaced the drum.|$U{tech1}"], 'the resolution is updated';
    is $t->psql("SELECT count(*) FROM conversations WHERE ticket_id = $id"
        . " AND type = 'Resolution'"), 2, 'a second Resolution conversation';
    is_deeply [@{history_of($id)}[3 .. $#{history_of($id)}]],
        ['resolution|Replaced the toner.|Replaced the drum.|admin',
         'resolvedOn|ISO|ISO|admin'],
        'history: the resolution and resolvedOn again, not the status';
    is history_new($id, 'resolvedOn'),
        $t->psql("SELECT iso_utc(resolved_on) FROM tickets WHERE id = $id"),
        'the resolvedOn of the history is the ticket\'s';
    my $new = $t->psql("SELECT payload->>'closeLink' FROM outbox"
        . " WHERE ticket_id = $id ORDER BY id DESC LIMIT 1");
    isnt $new, $link, 'a new close link';
    my $old = $t->http(GET => ($link =~ m{(/api/.*)})[0]);
    is $old->{status}, 400, 'the older link is no longer valid';
    $link = $new;
}

{
    # the TPI callback when one is configured
    $t->ctl_ok('setting', 'set', 'tpi_callback_url', 'http://127.0.0.1:9/tpi');
    my $id = ticket('member2', 3);
    my $guid = $t->psql("SELECT guid FROM tickets WHERE id = $id");
    my $r = post(resolve => $id, [TicketId => $id, ResolvedBy => $U{tech1},
        Resolution => 'Patched.'], $admin);
    is $r->{status}, 204, 'resolve with a TPI callback: 204';
    my ($tpi) = $t->rows("SELECT recipients, payload FROM outbox"
        . " WHERE ticket_id = $id AND channel = 'tpi' AND event = 'Resolved'");
    ok $tpi, 'a tpi row';
    my $p = $tpi->{payload} // {};
    is_deeply [map { $p->{$_} } qw(ticketId guid status resolution
        resolvedBy)], [$id, $guid, 'Resolved', 'Patched.', $U{tech1}],
        'its payload';
    like $p->{resolvedOn} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
        'resolvedOn';
    is $t->psql("SELECT count(*) FROM outbox WHERE ticket_id = $id"
        . " AND channel = 'email'"), 1, 'and the email';
    $t->ctl_ok('setting', 'set', 'tpi_callback_url', '');
}


# The close link -----------------------------------------------------------

{
    my $id = $resolved;
    my ($path) = $link =~ m{(/api/TicketsApi/confirm/.*)};
    my ($token) = $link =~ /token=(.*)$/;
    my ($guid) = $link =~ m{confirm/($GUID_RE)};

    # forged: one character of the token changed
    (my $forged = $token) =~ s/^(.{20})(.)/$1 . ($2 eq 'A' ? 'B' : 'A')/e;
    my $before = link_state($id);
    my $r = $t->http(GET => "/api/TicketsApi/confirm/$guid?token=$forged");
    is $r->{status}, 400, 'a forged token: 400';
    like $r->{headers}{'content-type'}, qr{^text/html}, 'an HTML page';
    like $r->{content}, qr/not valid/, 'saying the link is not valid';
    $r = $t->http(GET => "/api/TicketsApi/confirm/$guid?token=$forged",
        headers => { Accept => 'application/json' });
    $t->problem_ok($r, 400, 'a forged token, JSON asked for: problem+json');
    $r = confirm("/api/TicketsApi/confirm/$guid?token=$forged",
        headers => { Accept => 'application/problem+json' });
    $t->problem_ok($r, 400, 'a forged token POSTed, JSON asked for');
    $r = $t->http(GET => "/api/TicketsApi/confirm/$guid");
    is $r->{status}, 400, 'no token: 400';
    my $other = $t->psql('SELECT gen_random_uuid()');
    is $t->http(GET => "/api/TicketsApi/confirm/$other?token=$token")
        ->{status}, 400, 'the token on another guid: 400';
    is confirm("/api/TicketsApi/confirm/$other?token=$token")->{status}, 400,
        'POSTed on another guid: 400';
    is confirm("/api/TicketsApi/confirm/$guid?token=$token",
        token => $forged)->{status}, 400,
        'a body token other than the query one: 400';
    is $t->http(PUT => $path)->{headers}{allow}, 'GET, HEAD, POST',
        'PUT: 405 with Allow';
    link_unchanged($id, $before, 'refused links');

    # GET: what a link scanner fetches; it changes nothing
    for my $i (1, 2) {
        $r = $t->http(GET => $path);
        is $r->{status}, 200, "GET the link ($i): 200" or diag $r->{content};
    }
    like $r->{headers}{'content-type'}, qr{^text/html; charset=utf-8$}i,
        'an HTML page';
    my $csp = $r->{headers}{'content-security-policy'} // '';
    like $csp, qr/default-src 'none'/, 'CSP: nothing loads';
    like $csp, qr/frame-ancestors 'none'/, 'CSP: no framing';
    like $csp, qr/form-action 'self'/, 'CSP: the form posts here only';
    is $r->{headers}{'x-frame-options'}, 'DENY', 'X-Frame-Options: DENY';
    is $r->{headers}{'cache-control'}, 'no-store', 'Cache-Control: no-store';
    is $r->{headers}{'referrer-policy'}, 'no-referrer', 'no referrer: the '
        . 'token stays here';
    like $r->{content}, qr{<form method="post" action="">}, 'a form posting '
        . 'to the same URL';
    like $r->{content}, qr{<input type="hidden" name="token" value="$token">},
        'with the token';
    unlike $r->{content}, qr/<script/i, 'no script';
    $r = $t->http(HEAD => $path);
    is $r->{status}, 200, 'HEAD as GET: 200';
    is $r->{content} // '', '', 'without a body';
    link_unchanged($id, $before, 'GET and HEAD of the link');

    # a link scanner that "clicks" the GET with a made-up query
    $r = $t->http(GET => "$path&x=%3Cscript%3Ealert(1)%3C/script%3E");
    unlike $r->{content}, qr/<script/i, 'the query is not reflected';

    # POST: closed as acknowledged by the requester, no JWT, no email
    my $emails = $t->psql("SELECT count(*) FROM outbox WHERE ticket_id = $id");
    $r = confirm($path);
    is $r->{status}, 200, 'the close link POSTed: 200' or diag $r->{content};
    like $r->{headers}{'content-type'}, qr{^text/html; charset=utf-8}i,
        'an HTML page';
    is $r->{headers}{'x-frame-options'}, 'DENY', 'with the same headers';
    my $body = $r->{content};
    utf8::decode($body);
    like $body, qr/Thank you — ticket #$id is closed\./, 'thanking';
    # used
    $before = link_state($id);
    $r = $t->http(GET => $path);
    is $r->{status}, 400, 'the used link: 400';
    like $r->{headers}{'content-type'}, qr{^text/html}, 'an HTML page';
    $r = confirm($path);
    is $r->{status}, 400, 'the used link POSTed again: 400';
    like $r->{headers}{'content-type'}, qr{^text/html}, 'an HTML page';
    $t->problem_ok(confirm($path, headers => { Accept => 'application/json' }),
        400, 'the used link, JSON asked for: problem+json');
    link_unchanged($id, $before, 'a used link');
}

{
    # expired
    my $id = ticket('member1', 1);
    is post(resolve => $id, [TicketId => $id, ResolvedBy => $U{tech1},
        Resolution => 'Done.'], $admin)->{status}, 204, 'resolved';
    my ($path) = $t->psql("SELECT payload->>'closeLink' FROM outbox"
        . " WHERE ticket_id = $id") =~ m{(/api/.*)};
    $t->psql("UPDATE close_links SET expires_on = now() - interval '1s'"
        . " WHERE ticket_id = $id");
    my $before = link_state($id);
    is $t->http(GET => $path)->{status}, 400, 'an expired link: 400';
    is confirm($path)->{status}, 400, 'an expired link POSTed: 400';
    link_unchanged($id, $before, 'an expired link');

    # closed by staff meanwhile: a friendly page, the link used up
    $t->psql("UPDATE close_links SET expires_on = now() + interval '1 hour'"
        . " WHERE ticket_id = $id");
    is post(close => $id, [TicketId => $id, CloseBy => $U{tech1}], $admin)
        ->{status}, 204, 'closed by staff';
    my $r = $t->http(GET => $path);
    is $r->{status}, 200, 'GET the link of a closed ticket: 200';
    like $r->{content}, qr/#$id is closed already/, 'saying so';
    unlike $r->{content}, qr/<form/, 'with no form';
    is $t->psql("SELECT used_on IS NULL FROM close_links"
        . " WHERE ticket_id = $id"), 't', 'the GET does not use the link';
    $r = confirm($path);
    is $r->{status}, 200, 'POST the link of a closed ticket: 200';
    like $r->{content}, qr/#$id is closed already/, 'saying so';
    is $t->psql("SELECT used_on IS NOT NULL FROM close_links"
        . " WHERE ticket_id = $id"), 't', 'the link is used';
    is $t->psql("SELECT acknowledged FROM closures WHERE ticket_id = $id"),
        'f', 'the closure stays as staff made it';
    is confirm($path)->{status}, 400, 'and used once only';
}


# Reopen -------------------------------------------------------------------

{
    my $id = ticket('member1', 5);
    my $before = state_of($id);

    $t->problem_ok(post(reopen => $id, [], $member1), 403,
        'reopen without Tickets.Update: 403');
    $t->problem_ok(post(reopen => 999999, [], $admin), 404,
        'reopen an unknown ticket: 404');
    $t->problem_ok(post(reopen => $id, [], $member2), 404,
        "a Member reopening another's ticket: 404");
    unchanged($id, $before, 'refused reopens');

    my $was = $t->psql("SELECT iso_utc(resolved_on) FROM tickets"
        . " WHERE id = $id");
    my $r = post(reopen => $id, [], $tech1);
    is $r->{status}, 204, 'reopen a Resolved ticket: 204'
        or diag $r->{content};
    my $g = $t->http(GET => "/api/TicketsApi/$id", token => $admin)->{json};
    $t->ticket_ok($g, $id, 'the reopened ticket');
    is $g->{status}{id}, 7, 'status is reopen_status_id';
    is $g->{resolvedOn}, undef, 'resolvedOn cleared';
    is $g->{closedOn}, undef, 'closedOn cleared';
    is_deeply [$t->psql("SELECT type || '|' || created_by_id FROM"
        . " conversations WHERE ticket_id = $id")], ["Reopen|$U{tech1}"],
        'a Reopen conversation';
    is_deeply history_of($id),
        ['status|Resolved|Reopened|tech1', 'resolvedOn|ISO||tech1'],
        'history rows for the status and resolvedOn (closedOn was unset)';
    is $t->psql("SELECT old_value FROM history WHERE ticket_id = $id"
        . " AND field = 'resolvedOn'"), $was,
        'the old resolvedOn is the date the ticket had';

    # and the history endpoint shows them
    my $hist = $t->http(GET => "/api/TicketsApi/$id/history",
        token => $admin)->{json};
    is_deeply [map { $_->{field} } @{ref $hist eq 'ARRAY' ? $hist : []}],
        [qw(status resolvedOn)], 'GET history: status, resolvedOn';

    $before = state_of($id);
    $r = post(reopen => $id, [], $tech1);
    is $r->{status}, 200, 'reopen an open ticket: 200';
    is_deeply $r->{json}, { message => 'Ticket is already open.' },
        'already open';
    unchanged($id, $before, 'already open');

    # closed a day ago: locked at once with lock_closed_after_days 0
    my $closed = ticket('member1', 6);
    $t->ctl_ok('setting', 'set', 'lock_closed_after_days', '0');
    $before = state_of($closed);
    $r = post(reopen => $closed, [], $admin);
    $t->problem_ok($r, 409, 'reopen a locked ticket: 409');
    unchanged($closed, $before, 'locked');

    $t->ctl_ok('setting', 'set', 'lock_closed_after_days', '7');
    $r = post(reopen => $closed, [], $admin);
    is $r->{status}, 204, 'not locked after 7 days: 204';
    is $t->psql("SELECT status_id FROM tickets WHERE id = $closed"), 7,
        'reopened';
    is_deeply history_of($closed), ['status|Closed|Reopened|admin',
        'resolvedOn|ISO||admin', 'closedOn|ISO||admin'],
        'history rows for the status, resolvedOn and closedOn';
}

done_testing;
