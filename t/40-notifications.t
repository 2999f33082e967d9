#!/usr/bin/perl

# Notifications (SPEC 4, Notifications and Escalation): every event writes
# its outbox rows with its change, and the workers deliver them to a real
# SMTP server (aiosmtpd writing a Maildir) and an HTTP recorder, by TCP and
# by a unix socket: the right message to the right recipients with the
# right signature; retries while a receiver is down; failed after the
# limit and queued again by ticketsctl; exactly once with two nginx over
# one database; nothing lost over a restart; the escalation job.

use strict;
use warnings;
use utf8;

use Digest::SHA qw(hmac_sha256_hex);
use Encode ();
use MIME::Base64 ();
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);
use Time::Local qw(timegm);
use Tickets::Sink;
use Tickets::Test;

plan skip_all => '/usr/bin/python3 with aiosmtpd is needed'
    unless system("$Tickets::Sink::PYTHON -c 'import aiosmtpd' 2>/dev/null")
        == 0;

my $SECRET = 'webhook-secret-for-the-tests';
my $HOST = 'helpdesk.example.com';
my $API = '/api/TicketsApi';
my $JSON = JSON::PP->new->utf8->canonical;
# short retries and a quick tick keep the file fast
my $JOBS = "    tickets_outbox_interval 200ms;\n";

my $t = Tickets::Test->new;
my $sink = Tickets::Sink->new(dir => $t->dir . '/sink');

sub set { $t->ctl_ok('setting', 'set', @_) }

set(smtp_url => $sink->smtp_url);
set(smtp_from => 'Service Désk <helpdesk@example.com>');
set(push_url => $sink->http_url('/push'));
set(tpi_callback_url => $sink->unix_url('/tpi'));
set(webhook_url => $sink->http_url('/hook'));
set(webhook_secret => $SECRET);
set(public_base_url => "https://$HOST");
set(outbox_retry_base_seconds => 1);
set(outbox_retry_max_seconds => 1);
set(escalation_interval_seconds => 1);

$t->run(jobs => 1, http_extra => $JOBS);

my $admin = $t->token('admin');
my $tech1 = $t->token('tech1');
my $member1 = $t->token('member1');
my %U = map { $_ => $t->user_id($_) } qw(admin tech1 tech2 tech3 member1);

# A ticket of its own for each case, made in SQL: no notification.
sub ticket {
    my (%o) = @_;
    return scalar $t->psql('INSERT INTO tickets (title, description,'
        . ' requester_id, assignee_id, created_by_id, site_id, department_id,'
        . ' status_id, group_id, cc, due_date, sla_paused_since) VALUES ('
        . Tickets::Test::quote($o{title} // 'Notification test')
        . ", 'from t/40', '$U{member1}', "
        . Tickets::Test::quote($o{assignee} ? $U{$o{assignee}} : undef)
        . ", '$U{admin}', 1, 1, " . ($o{status} // 1) . ', '
        . ($o{group} // 'NULL') . ', ' . Tickets::Test::quote($o{cc}) . ', '
        . ($o{due} // 'NULL') . ', ' . ($o{paused} ? 'now()' : 'NULL')
        . ') RETURNING id');
}

sub post {
    my ($op, $id, $fields, $token, $inst) = @_;
    return ($inst // $t)->form_post("$API/$op/$id", $fields,
        token => $token // $admin);
}

# Waits (5 s at most) until the SQL answers something true.
sub wait_sql {
    my ($sql, $timeout) = @_;
    my $until = time + ($timeout // 5);
    my $v;
    sleep 0.1 until ($v = $t->psql($sql)) || time > $until;
    return $v;
}

sub outbox {
    my ($where) = @_;
    return $t->rows("SELECT id, uuid, channel, event, recipients, status,"
        . " attempts, last_error FROM outbox WHERE $where ORDER BY id");
}

# The mails and requests of a ticket (and an event).
sub mails_of {
    my ($id, $event, $n, $timeout) = @_;
    return $sink->wait_mails(sub {
        ($_[0]->header('X-Tickets-Ticket-Id') // '') eq $id
            && (!$event || ($_[0]->header('X-Tickets-Event') // '') eq $event)
    }, $n // 1, $timeout // 5);
}

sub requests_of {
    my ($id, $path, $event, $n, $timeout) = @_;
    return map { $_->{json} = $JSON->decode($_->{body}); $_ }
        $sink->wait_requests(sub {
            my $j = eval { $JSON->decode($_[0]{body}) } // {};
            $_[0]{path} eq $path && ($j->{ticketId} // '') eq $id
                && (!$event || $j->{event} eq $event)
        }, $n // 1, $timeout // 5);
}

sub addresses {
    my ($mail, $header) = @_;
    return [sort map { lc } split /,\s*/, $mail->header($header) // ''];
}

# RFC 5322 3.3 as written here: "Mon, 30 Nov 2026 09:15:00 +0000".
sub date_epoch {
    my ($s) = @_;
    my %mon; @mon{qw(Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec)}
        = 0 .. 11;
    return undef unless ($s // '') =~ /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),
        \ (\d\d)\ (\w{3})\ (\d{4})\ (\d\d):(\d\d):(\d\d)\ \+0000$/x
        && exists $mon{$2};
    return timegm($6, $5, $4, $1, $mon{$2}, $3);
}

# The headers every notification email carries, and its Message-ID.
sub mail_ok {
    my ($m, $row, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is $m->header('Message-ID'), "<$row->{uuid}\@$HOST>",
        "$name: Message-ID from the notification id";
    is $m->header('From'),
        '=?UTF-8?B?' . MIME::Base64::encode_base64(
            Encode::encode('UTF-8', 'Service Désk'), '')
        . '?= <helpdesk@example.com>', "$name: From, its name encoded";
    is $m->header('X-MailFrom'), 'helpdesk@example.com',
        "$name: the envelope sender";
    ok abs((date_epoch($m->header('Date')) // 0) - time) < 120,
        "$name: Date"
        or diag $m->header('Date');
    is $m->header('MIME-Version'), '1.0', "$name: MIME-Version";
    is $m->header('Content-Type'), 'text/plain; charset=utf-8',
        "$name: Content-Type";
    is $m->header('Content-Transfer-Encoding'), 'quoted-printable',
        "$name: quoted-printable";
    ok !grep({ length > 998 } split /\n/, $m->{raw}),
        "$name: no line over 998 octets";
}

# An HTTP notification: its envelope, Idempotency-Key and signature.
sub request_ok {
    my ($q, $row, $channel, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $h = $q->{headers};
    is $q->{method}, 'POST', "$name: POST";
    like $h->{'content-type'}, qr{^application/json}, "$name: JSON";
    is $h->{'idempotency-key'}, $row->{uuid}, "$name: Idempotency-Key";
    ok abs(($h->{'x-tickets-timestamp'} // 0) - time) < 120,
        "$name: X-Tickets-Timestamp";
    is $h->{'x-tickets-signature'}, 'sha256=' . hmac_sha256_hex(
        "$h->{'x-tickets-timestamp'}.$q->{body}", $SECRET),
        "$name: X-Tickets-Signature over timestamp and body";
    my $j = $q->{json};
    is_deeply [sort keys %$j], [sort qw(id channel event ticketId createdOn
        recipients data), $channel eq 'push' ? 'devices' : ()],
        "$name: the keys of the body";
    is "$j->{id} $j->{channel} $j->{event}",
        "$row->{uuid} $channel $row->{event}", "$name: id, channel, event";
    ok defined Tickets::Test::iso_epoch($j->{createdOn}),
        "$name: createdOn";
}


# Each event of SPEC 4 --------------------------------------------------

# Technician assigned: email and push to the technician, at once.
my $t0 = time;
my $r = $t->form_post("$API/register", [Title => 'Drucker im 2. Stock',
    Description => 'Er druckt nur noch Streifen.', CreatorId => $U{member1},
    SiteId => 1, DepartmentId => 1, TicketStatusId => 1,
    TicketType => 'Incident', AssignedUser => $U{tech1}], token => $admin);
is $r->{status}, 201, 'register with a technician: 201'
    or diag $r->{content};
my $id = $r->{json}{id};
my @rows = outbox("ticket_id = $id AND channel <> 'webhook'");
is_deeply [map { "$_->{channel} $_->{event}" } @rows],
    ['email TicketAssigned', 'push TicketAssigned'],
    'assigned: an email and a push queued with the ticket';

my @m = mails_of($id, 'TicketAssigned', 1, 3);
my $took = time - $t0;
is scalar @m, 1, 'assigned: one email';
ok $took < 1.5, sprintf 'assigned: delivered within a second of the answer'
    . ' (%.2f s)', $took;
mail_ok($m[0], $rows[0], 'assigned');
is_deeply $m[0]{rcpt}, ['tech1@example.com'], 'assigned: to the technician';
is $m[0]->header('To'), 'tech1@example.com', 'assigned: To';
is $m[0]{subject}, "Ticket #$id assigned to you: Drucker im 2. Stock",
    'assigned: the subject, RFC 2047 decoded';
like $m[0]{body}, qr/ticket #$id "Drucker im 2\. Stock" has been assigned/,
    'assigned: the text';
like $m[0]{body}, qr{^https://$HOST/api/TicketsApi/$id$}m,
    'assigned: a link to the ticket';
is $m[0]->header('References'), "<ticket-$id\@$HOST>",
    'assigned: References the ticket';

my @q = requests_of($id, '/push', 'TicketAssigned');
is scalar @q, 1, 'assigned: one push';
request_ok($q[0], $rows[1], 'push', 'push');
is_deeply $q[0]{json}{recipients}, [$U{tech1}], 'push: to the technician';
is_deeply $q[0]{json}{devices}, [], 'push: the devices of the recipients';
is $q[0]{json}{data}{title}, 'Drucker im 2. Stock', 'push: the data';
is $q[0]{via}, 'tcp', 'push: by TCP';

my @w = requests_of($id, '/hook', 'TicketAssigned');
is scalar @w, 1, 'webhook: one call for the event';
my ($hook) = outbox("ticket_id = $id AND channel = 'webhook'");
request_ok($w[0], $hook, 'webhook', 'webhook');

# Technician changed by update: the new one hears of it.
$r = post(update => $id, [AssignedUser => $U{tech2}]);
is $r->{status}, 204, 'update to another technician: 204'
    or diag $r->{content};
@m = mails_of($id, 'TicketAssigned', 2);
is_deeply [sort map { @{$_->{rcpt}} } @m],
    [qw(tech1@example.com tech2@example.com)], 'reassigned: email to tech2';
@q = requests_of($id, '/push', 'TicketAssigned', 2);
is_deeply [sort map { @{$_->{json}{recipients}} } @q],
    [sort @U{qw(tech1 tech2)}], 'reassigned: push to tech2';

# Reply: To and Cc as sent.
$id = ticket(assignee => 'tech1');
$r = post(reply => $id, [Id => $id, Title => 'Re: your laptop',
    SendTo => 'mary@example.com; boss@example.com',
    CcTo => 'it@example.com', Message => "We ordered a new one.\nRegards"]);
is $r->{status}, 200, 'reply: 200' or diag $r->{content};
@rows = outbox("ticket_id = $id AND channel = 'email'");
@m = mails_of($id, 'Reply');
is scalar @m, 1, 'reply: one email';
mail_ok($m[0], $rows[0], 'reply');
is_deeply [sort @{$m[0]{rcpt}}],
    [qw(boss@example.com it@example.com mary@example.com)],
    'reply: to SendTo and CcTo';
is_deeply addresses($m[0], 'To'), [qw(boss@example.com mary@example.com)],
    'reply: To is SendTo';
is_deeply addresses($m[0], 'Cc'), ['it@example.com'], 'reply: Cc is CcTo';
is $m[0]{subject}, "[Ticket #$id] Re: your laptop",
    'reply: its title, with the ticket';
like $m[0]{body}, qr/We ordered a new one\.\nRegards/, 'reply: the message';

# Forward.
$r = post(forward => $id, [Id => $id, Title => 'Fwd: laptop',
    SendTo => 'vendor@example.com', Message => 'Please have a look.']);
is $r->{status}, 200, 'forward: 200' or diag $r->{content};
@m = mails_of($id, 'Forward');
is_deeply $m[0]{rcpt}, ['vendor@example.com'], 'forward: to SendTo';
like $m[0]{body}, qr/has been forwarded to you:\n\nPlease have a look\./,
    'forward: the text';

# A refused write queues nothing.
my $before = $t->psql("SELECT count(*) FROM outbox WHERE ticket_id = $id");
$r = post(reply => $id, [Id => $id, Title => 'x', SendTo => 'not an address',
    Message => 'x']);
is $r->{status}, 400, 'a refused reply: 400';
is $t->psql("SELECT count(*) FROM outbox WHERE ticket_id = $id"), $before,
    'a refused reply: no notification';

# Close with Acknowledged: the requester and the Cc.
$id = ticket(assignee => 'tech1', cc => 'boss@example.com');
$r = post(close => $id, [TicketId => $id, CloseBy => $U{tech1},
    Acknowledged => 'true', Comments => 'Fixed for good.']);
is $r->{status}, 204, 'close, acknowledged: 204' or diag $r->{content};
@m = mails_of($id, 'Closed');
is scalar @m, 1, 'closed: one email';
is_deeply [sort @{$m[0]{rcpt}}], [qw(boss@example.com member1@example.com)],
    'closed: to the requester and the Cc';
is $m[0]{subject}, "Ticket #$id closed: Notification test", 'closed: subject';

# Resolve: the close link by email, the TPI callback by the unix socket.
$id = ticket(assignee => 'tech1', cc => 'boss@example.com');
$r = post(resolve => $id, [TicketId => $id, ResolvedBy => $U{tech1},
    Resolution => 'Replaced the toner.']);
is $r->{status}, 204, 'resolve: 204' or diag $r->{content};
@rows = outbox("ticket_id = $id AND channel = 'tpi'");
is scalar @rows, 1, 'resolved: a TPI callback queued';
@m = mails_of($id, 'Resolved');
is_deeply [sort @{$m[0]{rcpt}}], [qw(boss@example.com member1@example.com)],
    'resolved: to the requester and the Cc';
my ($link) = $m[0]{body} =~ m{^(https://\S+/confirm/\S+)$}m;
ok $link, 'resolved: the close link in the text';
is $link, $t->psql("SELECT payload->>'closeLink' FROM outbox WHERE"
    . " ticket_id = $id AND channel = 'email'"), 'resolved: the link queued';
like $m[0]{body}, qr/Replaced the toner\./, 'resolved: the resolution';
@q = requests_of($id, '/tpi', 'Resolved');
is scalar @q, 1, 'tpi: one callback';
is $q[0]{via}, 'unix', 'tpi: through the unix socket';
request_ok($q[0], $rows[0], 'tpi', 'tpi');
is $q[0]{json}{data}{resolution}, 'Replaced the toner.', 'tpi: the data';

# Requester reply: the assignee.
$id = ticket(assignee => 'tech2', status => 2);
$r = post(reqreply => $id, [Id => $id, Username => 'member1',
    Title => 'Any news?', Message => 'Still broken.'], $member1);
is $r->{status}, 200, 'requester reply: 200' or diag $r->{content};
@m = mails_of($id, 'RequesterReply');
is_deeply $m[0]{rcpt}, ['tech2@example.com'], 'requester reply: to the '
    . 'assignee';
like $m[0]{body}, qr/the requester replied on ticket #$id.*Still broken\./s,
    'requester reply: the text';

# Escalate: the assignee.
$id = ticket(assignee => 'tech1');
$r = post(escalate => $id, [Reason => 'VIP waiting'], $tech1);
is $r->{status}, 204, 'escalate: 204' or diag $r->{content};
@m = mails_of($id, 'Escalated');
is_deeply $m[0]{rcpt}, ['tech1@example.com'], 'escalated: to the assignee';
like $m[0]{body}, qr/VIP waiting/, 'escalated: the reason';


# The escalation job --------------------------------------------------------

my $late = ticket(assignee => 'tech1', group => 1,
    due => "now() - interval '1 minute'");
my $paused = ticket(assignee => 'tech1', due => "now() - interval '1 hour'",
    paused => 1);
my $resolved = ticket(assignee => 'tech1', status => 5,
    due => "now() - interval '1 hour'");
my $future = ticket(assignee => 'tech1', due => "now() + interval '1 hour'");

@m = mails_of($late, 'Escalated', 1, 6);
is scalar @m, 1, 'escalation job: an email';
is_deeply [sort @{$m[0]{rcpt}}], [qw(tech1@example.com tech2@example.com)],
    'escalation job: to the assignee and the members of the group';
like $m[0]{body}, qr/past its due date/, 'escalation job: the text';
my ($row) = $t->rows("SELECT is_escalated, escalated_on IS NOT NULL AS on,"
    . " version FROM tickets WHERE id = $late");
ok $row->{is_escalated} && $row->{on}, 'escalation job: isEscalated and '
    . 'escalatedOn';
is_deeply [$t->psql("SELECT type || '|' || coalesce(created_by_id, 'system')"
    . " || '|' || is_private FROM conversations WHERE ticket_id = $late")],
    ['Escalation|system|true'], 'escalation job: a private Escalation by the '
    . 'system';
is_deeply [$t->psql("SELECT field || '|' || new_value || '|'"
    . " || coalesce(changed_by_id, 'system') FROM history"
    . " WHERE ticket_id = $late")], ['isEscalated|true|system'],
    'escalation job: history';
sleep 2.5;
is $t->psql("SELECT count(*) FROM conversations WHERE ticket_id = $late"),
    1, 'escalation job: once';
is scalar(mails_of($late, 'Escalated', 2, 0)), 1, 'escalation job: one email';
is $t->psql('SELECT count(*) FROM tickets WHERE is_escalated AND id IN'
    . " ($paused, $resolved, $future)"), 0,
    'escalation job: not a paused, resolved or future ticket';


# Receivers down for a while ------------------------------------------------

$sink->stop_smtp->stop_http;
$id = ticket(assignee => 'tech1');
$r = post(update => $id, [AssignedUser => $U{tech2}]);
is $r->{status}, 204, 'receivers down: the answer is as ever';
$r = post(reply => $id, [Id => $id, Title => 'Down', SendTo =>
    'mary@example.com', Message => 'Sent while the server is down.']);
is $r->{status}, 200, 'receivers down: a reply answers 200';

wait_sql('SELECT (count(*) = 0)::int FROM outbox'
    . " WHERE ticket_id = $id AND attempts = 0");
@rows = outbox("ticket_id = $id");
is scalar(grep { $_->{status} eq 'pending' && $_->{attempts} >= 1
    && $_->{last_error} } @rows), scalar @rows,
    'receivers down: every notification tried, pending, with its error'
    or diag explain \@rows;
my ($mail_row) = grep { $_->{channel} eq 'email' && $_->{event} eq 'Reply' }
    @rows;
like $mail_row->{last_error}, qr/^smtp: /, 'the error says what failed';
my $list = $JSON->decode($t->ctl_ok('outbox', 'list'));
ok +(grep { $_->{uuid} eq $mail_row->{uuid} && $_->{status} eq 'pending'
    && $_->{lastError} } @$list), 'ticketsctl outbox list shows it';

sleep 1.5;
$sink->start_smtp->start_http;
@m = mails_of($id, undef, 2, 8);
is_deeply [sort map { $_->header('X-Tickets-Event') } @m],
    [qw(Reply TicketAssigned)], 'receivers back: both emails arrive';
@q = requests_of($id, '/push', 'TicketAssigned', 1, 8);
is scalar @q, 1, 'receivers back: the push arrives';
ok $q[0]{headers}{'x-tickets-attempt'} > 1, 'receivers back: a retry';
@q = requests_of($id, '/hook', undef, 2, 8);
is scalar @q, 2, 'receivers back: the webhook calls arrive';
wait_sql('SELECT (count(*) = 0)::int FROM outbox'
    . " WHERE ticket_id = $id AND status <> 'sent'");
is $t->psql("SELECT count(*) FROM outbox WHERE ticket_id = $id AND"
    . " (status <> 'sent' OR sent_on IS NULL)"), 0, 'and are marked sent';


# Failed after the limit, queued again ------------------------------------

set(outbox_max_attempts => 2);
$sink->stop_smtp;
$id = ticket(assignee => 'tech1');
$r = post(reply => $id, [Id => $id, Title => 'Limit', SendTo =>
    'limit@example.com', Message => 'x']);
wait_sql("SELECT count(*) FROM outbox"
    . " WHERE ticket_id = $id AND channel = 'email' AND status = 'failed'", 8);
($row) = outbox("ticket_id = $id AND channel = 'email'");
is "$row->{status} $row->{attempts}", 'failed 2',
    'after outbox_max_attempts: failed';
like $row->{last_error}, qr/^smtp: /, 'failed: with the reason';
my $logged = "tickets outbox failed: notification $row->{id}"
    . " ($row->{uuid}, email Reply) after 2 attempts: smtp: ";
like $t->error_log, qr/\[warn\].*\Q$logged\E/,
    'failed: logged at warn with the notification id';
$list = $JSON->decode($t->ctl_ok('outbox', 'list', '--status', 'failed'));
is_deeply [map { $_->{uuid} } grep { $_->{ticketId} == $id } @$list],
    [$row->{uuid}], 'ticketsctl outbox list --status failed';

set(outbox_max_attempts => 8);
$sink->start_smtp;
like $t->ctl_ok('outbox', 'retry', '--all-failed'),
    qr/^\d+ notifications? queued again$/, 'ticketsctl outbox retry '
    . '--all-failed';
@m = mails_of($id, 'Reply', 1, 5);
is scalar @m, 1, 'queued again: delivered';
is $m[0]->header('Message-ID'), "<$row->{uuid}\@$HOST>",
    'queued again: the same Message-ID';
wait_sql("SELECT count(*) FROM outbox WHERE id = $row->{id}"
    . " AND status = 'sent'");
my ($rc, $out, $err) = $t->ctl('outbox', 'retry', $row->{uuid});
is $rc, 1, 'ticketsctl outbox retry of a sent one: exit status 1';
like $err, qr/was sent already/, 'it says why';
($rc, undef, $err) = $t->ctl('outbox', 'retry', '999999999');
like "$rc $err", qr/^1 .*no notification 999999999/,
    'ticketsctl outbox retry of an unknown id';
is +($t->ctl('outbox', 'retry'))[0], 2, 'ticketsctl outbox retry without '
    . 'an id: usage';

# What cannot work is failed at once: a 4xx, a target not configured.
$sink->http_status(400);
$id = ticket();
post(update => $id, [AssignedUser => $U{tech1}]);
wait_sql("SELECT count(*) FROM outbox"
    . " WHERE ticket_id = $id AND channel = 'push' AND status = 'failed'");
($row) = outbox("ticket_id = $id AND channel = 'push'");
is "$row->{status} $row->{attempts}", 'failed 1', 'HTTP 400: failed at once';
like $row->{last_error}, qr/^push_url answered HTTP 400/, 'HTTP 400: why';
$sink->http_status(200);

set(push_url => '');
$id = ticket();
post(update => $id, [AssignedUser => $U{tech1}]);
wait_sql("SELECT count(*) FROM outbox"
    . " WHERE ticket_id = $id AND channel = 'push' AND status = 'failed'");
($row) = outbox("ticket_id = $id AND channel = 'push'");
is "$row->{status} $row->{last_error}", 'failed no push_url configured',
    'no push_url: failed, and why';
set(push_url => $sink->http_url('/push'));

# A password never goes out without TLS, and never into the log.
set(smtp_username => 'helpdesk');
set(smtp_password => 'hunter2-not-in-logs');
$id = ticket(assignee => 'tech1');
post(reply => $id, [Id => $id, Title => 'Auth', SendTo => 'a@example.com',
    Message => 'x']);
wait_sql("SELECT count(*) FROM outbox"
    . " WHERE ticket_id = $id AND attempts > 0 AND last_error IS NOT NULL");
($row) = outbox("ticket_id = $id");
ok $row->{status} eq 'pending' && $row->{last_error},
    'credentials without STARTTLS: not sent, to retry';
set(smtp_username => '');
set(smtp_password => '');
is scalar(mails_of($id, 'Reply', 1, 5)), 1,
    'without credentials: delivered';
unlike $t->error_log . $t->psql('SELECT string_agg(coalesce(last_error, '
    . "''), ' ') FROM outbox"), qr/hunter2/, 'the password is nowhere';


# Two nginx over one database: each notification once ---------------------

my $t2 = Tickets::Test->new(pg_from => $t)->run(jobs => 1,
    http_extra => $JOBS);
my $from = $t->psql('SELECT max(id) FROM outbox');
# due all at once, found by four workers polling
$t->psql("INSERT INTO outbox (channel, event, ticket_id, recipients, payload)"
    . " SELECT 'email', 'Reply', NULL, ARRAY['n' || i || '\@example.com'],"
    . " jsonb_build_object('subject', 'Bulk ' || i, 'message', 'x')"
    . " FROM generate_series(1, 40) i");
my @ids;
for my $i (1 .. 10) {
    my $tid = ticket(assignee => 'tech1');
    push @ids, $tid;
    post(reply => $tid, [Id => $tid, Title => "Both $i", SendTo =>
        'both@example.com', Message => 'x'], $admin, $i % 2 ? $t : $t2);
}
my $late2 = ticket(assignee => 'tech1', group => 2,
    due => "now() - interval '1 minute'");
my @bulk = $sink->wait_mails(sub { ($_[0]{subject} // '') =~ /^Bulk \d+$/ },
    40, 10);
is scalar @bulk, 40, 'two instances: every queued email arrives';
my %seen;
$seen{$_->header('Message-ID')}++ for @bulk;
is scalar(keys %seen), 40, 'two instances: each once';
is scalar(map { mails_of($_, 'Reply', 1, 5) } @ids), 10,
    'two instances: every reply through either arrives once';
ok wait_sql("SELECT (count(*) = 0)::int FROM outbox WHERE id > $from"
    . " AND channel = 'email' AND status <> 'sent'"),
    'two instances: all marked sent';
@m = mails_of($late2, 'Escalated', 1, 5);
sleep 1.5;
is scalar(mails_of($late2, 'Escalated', 2, 0)), 1,
    'two instances: a late ticket escalated once';
is $t->psql("SELECT count(*) FROM conversations WHERE ticket_id = $late2"),
    1, 'two instances: one Escalation conversation';


# A restart with notifications pending ------------------------------------

$sink->stop_smtp;
@ids = ();
for my $i (1 .. 5) {
    my $tid = ticket(assignee => 'tech1');
    push @ids, $tid;
    post(reply => $tid, [Id => $tid, Title => "Restart $i", SendTo =>
        'restart@example.com', Message => 'x']);
}
$t2->stop_nginx;
$t->stop_nginx;
is $t->psql("SELECT count(*) FROM outbox WHERE ticket_id IN (@{[join ',',
    @ids]}) AND channel = 'email' AND status = 'pending'"), 5,
    'stopped with five emails pending';
$sink->start_smtp;
$t->run;
is scalar(map { mails_of($_, 'Reply', 1, 6) } @ids), 5,
    'after the restart: all five arrive';


# Over the whole file -----------------------------------------------------

%seen = ();
$seen{$_->header('Message-ID')}++ for $sink->mails;
is_deeply [grep { $seen{$_} > 1 } sort keys %seen], [],
    'no email arrived twice';
%seen = ();
$seen{$_->{headers}{'idempotency-key'}}++ for $sink->requests;
is_deeply [grep { $seen{$_} > 1 } sort keys %seen], [],
    'no HTTP notification arrived twice';
unlike $t->error_log . $t2->error_log, qr/\[(?:alert|crit|emerg)\]/,
    'no alert in the error logs';

done_testing;
