#!/usr/bin/perl

# Conversations: POST forward/{id}, reply/{id}, note/{id}, reqreply/{id},
# GET {id}/conversations and GET attachment/{id} (seed 5, 6, 17; SPEC
# 3.5, 3.6, 3.10, 3.11, 3.17, "Beyond the seed", 4 "Notifications" and
# "Locking").

use strict;
use warnings;
use utf8;

use Digest::SHA qw(sha256_hex);
use Test::More;
use Time::HiRes qw(sleep time);
use Tickets::Test;

my $t = Tickets::Test->new->run;
my $admin = $t->token('admin');
my $tech1 = $t->token('tech1');
my $member1 = $t->token('member1');
my $member2 = $t->token('member2');
my $integration = $t->token('integration');
my %ID = map { $_ => $t->user_id($_) } qw(admin tech1 tech2 member1 member2);
my $API = '/api/TicketsApi';

my @CONV_KEYS = sort qw(id type title message sendTo ccTo isPrivate
    createdBy createdOn attachments);

# A ticket of its own for each case: requester, assignee (undef: none),
# status; closed_days ago for a Closed one.
sub ticket {
    my (%o) = @_;
    my $status = $o{status} // 1;
    return scalar $t->psql('INSERT INTO tickets (title, description,'
        . ' requester_id, assignee_id, created_by_id, site_id, department_id,'
        . ' status_id, resolved_on, closed_on) VALUES (\'Conversation test\','
        . " 'from t/21', " . Tickets::Test::quote($ID{$o{requester}
        // 'member1'}) . ', ' . Tickets::Test::quote(exists $o{assignee}
        ? (defined $o{assignee} ? $ID{$o{assignee}} : undef) : $ID{tech1})
        . ", '$ID{admin}', 1, 1, $status,"
        . ($status == 5 || $status == 6 ? ' now(),' : ' NULL,')
        . ($status == 6 ? ' now() - interval \'' . ($o{closed_days} // 0)
           . ' days\'' : ' NULL') . ') RETURNING id');
}

sub count {
    my ($sql) = @_;
    return scalar $t->psql("SELECT count(*) FROM $sql");
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
    my %name = reverse %ID;
    return [map {
        join '|', $_->{field},
            (map { !defined $_ ? '' : is_iso($_) ? 'ISO' : $_ }
                @$_{qw(old_value new_value)}),
            $name{$_->{changed_by_id} // ''} // '?'
    } $t->rows('SELECT field, old_value, new_value, changed_by_id'
        . " FROM history WHERE ticket_id = $id ORDER BY id")];
}

# The conversation answered: keys, type, the principal as createdBy.
sub conversation_ok {
    my ($r, $status, $type, $by, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is $r->{status}, $status, "$name: $status"
        or diag substr $r->{content}, 0, 800;
    my $j = $r->{json} // {};
    like $r->{headers}{'content-type'} // '', qr{^application/json}i,
        "$name: JSON";
    is_deeply [sort keys %$j], \@CONV_KEYS,
        "$name: the keys of a conversation";
    is $j->{type}, $type, "$name: type $type";
    is_deeply $j->{createdBy}, $t->person($ID{$by}), "$name: createdBy $by";
    ok defined Tickets::Test::iso_epoch($j->{createdOn}),
        "$name: createdOn in ISO 8601 UTC";
    return $j;
}

sub post {
    my ($what, $id, $fields, %o) = @_;
    return $o{files}
        ? $t->multipart_post("$API/$what/$id", $fields, %o)
        : $t->form_post("$API/$what/$id", $fields, %o);
}


# Reply: the conversation, its email, the first response -----------------

my $id = ticket();
my $r = post(reply => $id, [Id => $id, Title => 'Re: your laptop',
    SendTo => 'mary@example.com; boss@example.com',
    CcTo => 'it@example.com, MARY@example.com',
    Message => "We ordered a new one.\nRegards"], token => $admin);
my $j = conversation_ok($r, 200, 'Reply', 'admin', 'reply');
is $j->{title}, 'Re: your laptop', 'reply: title';
is $j->{message}, "We ordered a new one.\nRegards", 'reply: message';
is $j->{sendTo}, 'mary@example.com; boss@example.com', 'reply: sendTo';
is $j->{ccTo}, 'it@example.com, MARY@example.com', 'reply: ccTo';
ok JSON::PP::is_bool($j->{isPrivate}) && !$j->{isPrivate},
    'reply: isPrivate false';
is_deeply $j->{attachments}, [], 'reply: no attachments';
my ($row) = $t->rows("SELECT * FROM conversations WHERE id = $j->{id}");
is_deeply [@$row{qw(ticket_id type created_by_id send_to)}],
    [$id, 'Reply', $ID{admin}, 'mary@example.com; boss@example.com'],
    'reply: stored';
my @out = $t->rows("SELECT channel, event, recipients, status, payload"
    . " FROM outbox WHERE ticket_id = $id");
is scalar @out, 1, 'reply: one outbox row';
is_deeply [@{$out[0]}{qw(channel event status)}], [qw(email Reply pending)],
    'reply: an email, event Reply';
is_deeply $out[0]{recipients}, [qw(mary@example.com boss@example.com
    it@example.com)], 'reply: SendTo and CcTo, each address once';
is_deeply [@{$out[0]{payload}}{qw(ticketId conversationId subject title)}],
    [$id, $j->{id}, 'Re: your laptop', 'Conversation test'],
    'reply: payload';
my $first = $t->psql('SELECT extract(epoch FROM first_responded_on)'
    . " FROM tickets WHERE id = $id");
ok defined $first && abs($first - time) < 60,
    'reply by staff: firstRespondedOn set';
is $t->http(GET => "$API/$id", token => $admin)->{json}{firstRespondedOn},
    $t->psql("SELECT iso_utc(first_responded_on) FROM tickets WHERE id = $id"),
    'firstRespondedOn in the ticket';
is_deeply history_of($id), ['firstRespondedOn||ISO|admin'],
    'reply by staff: a firstRespondedOn history row, by the principal';
is $t->psql("SELECT new_value FROM history WHERE ticket_id = $id"
    . " AND field = 'firstRespondedOn'"),
    $t->psql("SELECT iso_utc(first_responded_on) FROM tickets WHERE id = $id"),
    'the firstRespondedOn of the history is the ticket\'s';

sleep 1.1;
$r = post(reply => $id, [Id => $id, Title => 'Again', SendTo =>
    'mary@example.com'], token => $tech1);
conversation_ok($r, 200, 'Reply', 'tech1', 'second reply');
is $t->psql('SELECT extract(epoch FROM first_responded_on) FROM tickets'
    . " WHERE id = $id"), $first, 'firstRespondedOn is set once';
is_deeply history_of($id), ['firstRespondedOn||ISO|admin'],
    'second reply: no second firstRespondedOn row';
is count("outbox WHERE ticket_id = $id"), 2, 'second reply: a second email';


# Forward with uploads --------------------------------------------------

$id = ticket(requester => 'member2', assignee => undef);
my $binary = join '', map { chr } 0 .. 255;
my @files = (['Uploads', 'error.log', 'text/plain', "line 1\nline 2\n"],
    ['Uploads', 'screen.png', 'image/png', $binary],
    ['Uploads', 'tool.exe', 'application/octet-stream', 'MZ']);
$r = post(forward => $id, [Id => $id, Title => 'Fwd: VPN', SendTo =>
    'vendor@example.net', HasDraft => 'true', Message => 'See the logs.'],
    token => $tech1, files => \@files);
$j = conversation_ok($r, 200, 'Forward', 'tech1', 'forward with uploads');
is_deeply history_of($id), ['firstRespondedOn||ISO|tech1'],
    'forward by staff: the first response in the history';
my @att = sort { $a->{fileName} cmp $b->{fileName} }
    @{$j->{attachments} // []};
is_deeply [map { my %a = %$_; delete $a{id}; \%a } @att], [
    { fileName => 'error.log', contentType => 'text/plain', size => 14,
      sha256 => sha256_hex("line 1\nline 2\n") },
    { fileName => 'screen.png', contentType => 'image/png', size => 256,
      sha256 => sha256_hex($binary) }],
    'forward: the allowed uploads, .exe skipped';
is count("attachments WHERE conversation_id = $j->{id}"), 2,
    'forward: attachments stored on the conversation';
is count("attachments WHERE ticket_id = $id AND conversation_id IS NULL"), 0,
    'forward: none as the ticket\'s own files';
is $t->psql("SELECT has_draft FROM conversations WHERE id = $j->{id}"), 't',
    'forward: HasDraft stored';
@out = $t->rows("SELECT event, recipients, payload FROM outbox"
    . " WHERE ticket_id = $id");
is scalar @out, 1, 'forward: one outbox row';
is $out[0]{event}, 'Forward', 'forward: event Forward';
is_deeply $out[0]{recipients}, ['vendor@example.net'], 'forward: recipients';
is_deeply [sort { $a <=> $b } @{$out[0]{payload}{attachments}}],
    [sort { $a <=> $b } map { $_->{id} } @att], 'forward: attachment ids';
my $list = $t->http(GET => "$API/$id/conversations", token => $admin);
is $list->{status}, 200, 'conversations: 200';
is_deeply $list->{json}, [$j], 'conversations: the forward with its files';

# the files as they were sent
my $png = (grep { $_->{fileName} eq 'screen.png' } @att)[0]{id} // 0;
$r = $t->http(GET => "$API/attachment/$png", token => $member2);
is $r->{status}, 200, 'attachment: the requester downloads it';
is $r->{content}, $binary, 'attachment: the bytes';
like $r->{headers}{'content-type'} // '', qr{^image/png$}, 'attachment: type';
is $r->{headers}{'content-disposition'},
    q{attachment; filename="screen.png"; filename*=UTF-8''screen.png},
    'attachment: Content-Disposition, RFC 6266';
is $r->{headers}{'x-content-type-options'}, 'nosniff', 'attachment: nosniff';
$r = $t->http(GET => "$API/attachment/$png", token => $member1);
$t->problem_ok($r, 404, 'attachment: another member: 404');
$r = $t->http(GET => "$API/attachment/999999999", token => $admin);
$t->problem_ok($r, 404, 'attachment: unknown: 404');


# Validation and access of reply and forward ----------------------------

$id = ticket();
my $before = count('conversations') + count('outbox');
my @OK = (Id => $id, Title => 'Hello', SendTo => 'a@example.com');

sub invalid {
    my ($what, $fields, $errors, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $res = post($what => $id, $fields, token => $admin);
    $t->problem_ok($res, 400, "$name: 400");
    my $e = $res->{json}{errors};
    is_deeply [sort keys %{ref $e eq 'HASH' ? $e : {}}], [sort @$errors],
        "$name: errors names @$errors";
}

for my $what (qw(reply forward)) {
    invalid($what, [Id => $id, SendTo => 'a@example.com'], ['Title'],
        "$what: Title missing");
    invalid($what, [Id => $id, SendTo => 'a@example.com',
        Title => 'x' x 256], ['Title'], "$what: Title of 256 characters");
    invalid($what, [Id => $id, Title => 'Hello'], ['SendTo'],
        "$what: SendTo missing");
    invalid($what, [Id => $id, Title => 'Hello', SendTo => 'nobody'],
        ['SendTo'], "$what: SendTo not an address");
    invalid($what, [Id => $id, Title => 'Hello',
        SendTo => 'a@example.com, b@'], ['SendTo'],
        "$what: SendTo with one bad address");
    invalid($what, [@OK, CcTo => 'c@example.com; not an address'], ['CcTo'],
        "$what: CcTo not an address");
    invalid($what, [Title => 'Hello', SendTo => 'a@example.com'], ['Id'],
        "$what: Id missing");

    $r = post($what => $id, [@OK[2 .. $#OK], Id => $id + 1000],
        token => $admin);
    $t->problem_ok($r, 400, "$what: Id mismatch: 400");
    is $r->{json}{detail}, 'ID mismatch', "$what: ID mismatch";

    $r = post($what => 999999, [@OK[2 .. $#OK], Id => 999999],
        token => $admin);
    $t->problem_ok($r, 400, "$what: unknown ticket: 400 (compat)");
    is $r->{json}{detail}, 'Ticket not found', "$what: Ticket not found";

    $r = post($what => $id, \@OK, token => $member1);
    $t->problem_ok($r, 403, "$what: a Member has no Tickets.\u$what: 403");
}
invalid('forward', [@OK, HasDraft => 'perhaps'], ['HasDraft'],
    'forward: HasDraft not a bool');
$r = post(reply => $id, \@OK, token => $t->token('member2',
    permissions => ['Tickets.Reply']));
$t->problem_ok($r, 400, 'reply: a Member on another\'s ticket: 400');
is $r->{json}{detail}, 'Ticket not found',
    'reply: another\'s ticket is just as unknown';
$r = post(forward => $id, \@OK, token => $t->token('tech1',
    permissions => ['Tickets.Reply']));
$t->problem_ok($r, 403, 'forward without Tickets.Forward: 403');
is count('conversations') + count('outbox'), $before,
    'nothing was written by a refused reply or forward';
is $t->psql("SELECT coalesce(iso_utc(first_responded_on), 'none')"
    . " FROM tickets WHERE id = $id"), 'none',
    'no first response either';
is_deeply history_of($id), [], 'and no history row';


# Notes ---------------------------------------------------------------

$id = ticket();
$before = count('outbox');
$r = post(note => $id, [Id => $id, Message => 'Hardware fault likely.'],
    token => $tech1);
$j = conversation_ok($r, 201, 'Note', 'tech1', 'note');
like $r->{headers}{location} // '', qr{/api/TicketsApi/$id/conversations$}i,
    'note: Location of the conversations';
ok JSON::PP::is_bool($j->{isPrivate}) && $j->{isPrivate},
    'note: private by default';
is $j->{message}, 'Hardware fault likely.', 'note: message';
is $j->{title}, undef, 'note: no title';
my $private = $j->{id};
$r = post(note => $id, [Id => $id, Message => 'Told the user.',
    IsPrivate => 'false'], token => $tech1);
$j = conversation_ok($r, 201, 'Note', 'tech1', 'public note');
ok !$j->{isPrivate}, 'note: IsPrivate false';
is count('outbox'), $before, 'a note sends no email';
is $t->psql("SELECT coalesce(iso_utc(first_responded_on), 'none')"
    . " FROM tickets WHERE id = $id"), 'none',
    'a note is no first response';
is_deeply history_of($id), [], 'a note: no history row';

$r = post(note => $id, [Id => $id], token => $tech1);
$t->problem_ok($r, 400, 'note: Message missing: 400');
is_deeply [keys %{$r->{json}{errors} // {}}], ['Message'],
    'note: errors names Message';
$r = post(note => 999999, [Id => 999999, Message => 'x'], token => $tech1);
$t->problem_ok($r, 404, 'note: unknown ticket: 404');
$r = post(note => $id, [Id => $id, Message => 'x'], token => $member1);
$t->problem_ok($r, 403, 'note: a Member has no Tickets.Reply: 403');

# a private note's file is staff only
$r = post(note => $id, [Id => $id, Message => 'Log attached.'],
    token => $tech1, files => [['Uploads', 'secret.txt', 'text/plain',
    "internal\n"]]);
$j = conversation_ok($r, 201, 'Note', 'tech1', 'private note with a file');
my $secret = $j->{attachments}[0]{id} // 0;
$r = $t->http(GET => "$API/attachment/$secret", token => $admin);
is $r->{status}, 200, 'private note\'s file: staff: 200';
is $r->{content}, "internal\n", 'private note\'s file: the bytes';
like $r->{headers}{'content-type'} // '', qr{^text/plain$},
    'private note\'s file: type';
$r = $t->http(GET => "$API/attachment/$secret", token => $member1);
$t->problem_ok($r, 404, 'private note\'s file: the requester: 404');

# the requester never sees a private note
$list = $t->http(GET => "$API/$id/conversations", token => $admin);
is_deeply [map { $_->{message} } @{$list->{json} // []}],
    ['Hardware fault likely.', 'Told the user.', 'Log attached.'],
    'conversations: staff see every note, oldest first';
$list = $t->http(GET => "$API/$id/conversations", token => $member1);
is $list->{status}, 200, 'conversations: the requester: 200';
is_deeply [map { $_->{message} } @{$list->{json} // []}],
    ['Told the user.'], 'conversations: the requester sees no private note';
$t->problem_ok($t->http(GET => "$API/$id/conversations", token => $member2),
    404, 'conversations: another member: 404');
$t->problem_ok($t->http(GET => "$API/999999/conversations", token => $admin),
    404, 'conversations: unknown ticket: 404');

# Idempotency-Key: the same note once
my $key = 'note-' . time . "-$$";
my $n = count("conversations WHERE ticket_id = $id");
my @note = (Id => $id, Message => 'Only once.');
my $r1 = post(note => $id, \@note, token => $tech1,
    headers => { 'Idempotency-Key' => $key });
my $r2 = post(note => $id, \@note, token => $tech1,
    headers => { 'Idempotency-Key' => $key });
is $r1->{status}, 201, 'Idempotency-Key: first 201';
is $r2->{status}, 201, 'Idempotency-Key: replay 201';
ok defined $r1->{json}{id} && $r1->{json}{id} eq ($r2->{json}{id} // ''),
    'Idempotency-Key: the same conversation id';
is_deeply $r2->{json}, $r1->{json}, 'Idempotency-Key: the same answer';
is count("conversations WHERE ticket_id = $id"), $n + 1,
    'Idempotency-Key: one row';
$r = post(note => $id, [Id => $id, Message => 'Something else.'],
    token => $tech1, headers => { 'Idempotency-Key' => $key });
$t->problem_ok($r, 400, 'Idempotency-Key with another request: 400');
is count("conversations WHERE ticket_id = $id"), $n + 1,
    'Idempotency-Key: still one row';


# Requester reply -------------------------------------------------------

sub reqreply {
    my ($tid, $user, $token, %o) = @_;
    return post(reqreply => $tid, [Id => $tid, Username => $user,
        Title => 'Any news?', Message => 'Still broken.'], token => $token,
        %o);
}

# on an active ticket: stored, the assignee hears of it
$id = ticket(status => 2);
$r = reqreply($id, 'member1', $member1);
$j = conversation_ok($r, 200, 'RequesterReply', 'member1',
    'reqreply by the requester');
is $j->{title}, 'Any news?', 'reqreply: title';
is $j->{message}, 'Still broken.', 'reqreply: message';
is $t->psql("SELECT status_id FROM tickets WHERE id = $id"), 2,
    'reqreply: an active ticket keeps its status';
@out = $t->rows("SELECT channel, event, recipients FROM outbox"
    . " WHERE ticket_id = $id");
is_deeply \@out, [{ channel => 'email', event => 'RequesterReply',
    recipients => ['tech1@example.com'] }],
    'reqreply: an email to the assignee';

$r = reqreply($id, 'member1', $integration);
$j = conversation_ok($r, 200, 'RequesterReply', 'member1',
    'reqreply by Integration on behalf of the requester');

# on a Resolved ticket: reopened, with history; a multipart with a file
$id = ticket(status => 5);
my $was = $t->psql("SELECT iso_utc(resolved_on) FROM tickets WHERE id = $id");
$r = reqreply($id, 'member1', $member1, files => [['Uploads', 'photo.jpg',
    'image/jpeg', "\xff\xd8\xff\xe0jpeg"]]);
$j = conversation_ok($r, 200, 'RequesterReply', 'member1',
    'reqreply on a Resolved ticket');
is scalar @{$j->{attachments} // []}, 1, 'reqreply: the upload is kept';
my $g = $t->http(GET => "$API/$id", token => $member1)->{json} // {};
is_deeply $g->{status}, { id => 7, status => 'Reopened',
    statusType => 'Open' }, 'reqreply: the ticket is reopened';
is $g->{resolvedOn}, undef, 'reqreply: resolvedOn cleared';
is_deeply [$t->rows("SELECT field, old_value, new_value, changed_by_id"
    . " FROM history WHERE ticket_id = $id AND field = 'status'")],
    [{ field => 'status', old_value => 'Resolved', new_value => 'Reopened',
    changed_by_id => $ID{member1} }], 'reqreply: the status in the history';
is_deeply history_of($id),
    ['status|Resolved|Reopened|member1', 'resolvedOn|ISO||member1'],
    'reqreply: then resolvedOn cleared (closedOn was unset)';
is $t->psql("SELECT old_value FROM history WHERE ticket_id = $id"
    . " AND field = 'resolvedOn'"), $was,
    'reqreply: the old resolvedOn is the date the ticket had';
is count("conversations WHERE ticket_id = $id"), 1,
    'reqreply: the reply records the reopen, no other conversation';

# locked: stored, not reopened
$t->ctl_ok('setting', 'set', 'lock_closed_after_days', '0');
$id = ticket(status => 6, closed_days => 1);
$r = reqreply($id, 'member1', $member1);
conversation_ok($r, 200, 'RequesterReply', 'member1',
    'reqreply on a locked ticket');
is $t->psql("SELECT status_id FROM tickets WHERE id = $id"), 6,
    'reqreply: a locked ticket stays Closed';
is count("history WHERE ticket_id = $id"), 0, 'reqreply: no status change';
is count("conversations WHERE ticket_id = $id AND type = 'RequesterReply'"),
    1, 'reqreply: the reply on the locked ticket is stored';
$t->ctl_ok('setting', 'set', 'lock_closed_after_days', '7');
$id = ticket(status => 6, closed_days => 1);
is reqreply($id, 'member1', $member1)->{status}, 200,
    'reqreply on a Closed ticket not locked yet: 200';
is $t->psql("SELECT status_id FROM tickets WHERE id = $id"), 7,
    'reqreply: a Closed ticket not locked is reopened';
is_deeply history_of($id), ['status|Closed|Reopened|member1',
    'resolvedOn|ISO||member1', 'closedOn|ISO||member1'],
    'reqreply: the status, resolvedOn and closedOn in the history';

# who may not
$id = ticket(status => 5);
$before = count('conversations') + count('outbox') + count('history');
$r = reqreply($id, 'member2', $member1);
$t->problem_ok($r, 403, 'reqreply: a Member naming another user: 403');
$r = reqreply($id, 'admin', $admin);
$t->problem_ok($r, 403, 'reqreply: staff who is not the requester: 403');
$r = reqreply($id, 'member1', $tech1);
$t->problem_ok($r, 403, 'reqreply: staff naming the requester: 403');
$r = reqreply($id, 'member2', $integration);
$t->problem_ok($r, 403, 'reqreply: Integration naming another user: 403');
$r = reqreply($id, 'no-such-user', $integration);
$t->problem_ok($r, 400, 'reqreply: an unknown user: 400');
is $r->{json}{detail}, 'User not found', 'reqreply: User not found';
$r = reqreply(999999, 'member1', $member1);
$t->problem_ok($r, 400, 'reqreply: an unknown ticket: 400 (compat)');
is $r->{json}{detail}, 'Ticket not found', 'reqreply: Ticket not found';
$r = reqreply($id, 'member2', $member2);
$t->problem_ok($r, 400, 'reqreply: another\'s ticket: 400 as unknown');
is $r->{json}{detail}, 'Ticket not found',
    'reqreply: another\'s ticket is just as unknown';
$r = post(reqreply => $id, [Id => $id, Username => 'member1'],
    token => $member1);
$t->problem_ok($r, 400, 'reqreply: Title missing: 400');
is_deeply [keys %{$r->{json}{errors} // {}}], ['Title'],
    'reqreply: errors names Title';
is count('conversations') + count('outbox') + count('history'), $before,
    'nothing was written by a refused reqreply';
is $t->psql("SELECT status_id FROM tickets WHERE id = $id"), 5,
    'the ticket is still Resolved';

done_testing;
