#!/usr/bin/perl

# Inbound email (docs/email.md): real messages through ticketsctl
# mail-deliver and POST /api/TicketsApi/inbound become tickets and
# conversations with their attachments; replies thread by our Message-IDs
# and by the subject's tag; robots, loops and duplicates create nothing;
# malformed and oversized messages are refused and store nothing; the
# round trip: our notification, captured by the real SMTP sink, answered
# by the requester, lands on the same ticket.

use strict;
use warnings;
use utf8;

use Encode ();
use IPC::Open3 qw(open3);
use JSON::PP;
use MIME::Base64 ();
use Symbol qw(gensym);
use Test::More;
use Tickets::Sink;
use Tickets::Test;

plan skip_all => '/usr/bin/python3 with aiosmtpd is needed'
    unless system("$Tickets::Sink::PYTHON -c 'import aiosmtpd' 2>/dev/null")
        == 0;

my $HOST = 'helpdesk.example.com';
my $API = '/api/TicketsApi';
my $JSON = JSON::PP->new->utf8->canonical;

my $t = Tickets::Test->new;
my $sink = Tickets::Sink->new(dir => $t->dir . '/sink');

sub set { $t->ctl_ok('setting', 'set', @_) }

set(smtp_url => $sink->smtp_url);
set(smtp_from => 'Helpdesk <helpdesk@example.com>');
set(public_base_url => "https://$HOST");
set(outbox_retry_base_seconds => 1);
set(outbox_retry_max_seconds => 1);
# the escalation job writes conversations of its own: off, for the counts
set(escalation_interval_seconds => 0);

$t->run(jobs => 1, http_extra => "    tickets_outbox_interval 200ms;\n");

my %U = map { $_ => $t->user_id($_) } qw(admin tech1 member1 member2);

# ticketsctl mail-deliver with the message on stdin: (exit, stdout, stderr)
sub deliver {
    my ($raw) = @_;
    my $err = gensym;
    my $pid = open3(my $in, my $out, $err, "$Tickets::Test::ROOT/build/ticketsctl",
        '-d', $t->conninfo, 'mail-deliver');
    binmode $in;
    print {$in} $raw;
    close $in;
    local $/;
    my $o = <$out> // '';
    my $e = <$err> // '';
    waitpid $pid, 0;
    return ($? >> 8, $o, $e);
}

sub deliver_ok {
    my ($raw, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($rc, $out, $err) = deliver($raw);
    is $rc, 0, "$name: exit 0" or diag $err;
    my $j = eval { $JSON->decode($out) } // {};
    return $j;
}

sub count { scalar $t->psql($_[0]) }

my $n = 0;
sub msgid { $n++; "<test-$n-$$\@mail.example.org>" }

# A message with CRLF line ends, as an MTA hands it over.
sub mail {
    my (%o) = @_;
    my $head = join '', map { "$_->[0]: $_->[1]\n" } (
        [From => $o{from} // 'Mary Member <member1@example.com>'],
        [To => 'Helpdesk <helpdesk@example.com>'],
        [Subject => $o{subject} // 'Printer on fire'],
        [Date => 'Mon, 07 Dec 2026 09:00:00 +0000'],
        ($o{no_id} ? () : ['Message-ID' => $o{id} // msgid()]),
        @{$o{headers} // []},
        ['MIME-Version' => '1.0'],
    );
    my $raw = $head . ($o{mime} // "Content-Type: text/plain; charset=utf-8\n"
        . "Content-Transfer-Encoding: 8bit\n\n"
        . ($o{body} // "It is on fire.\n"));
    $raw =~ s/\r?\n/\r\n/g;
    utf8::encode($raw) if utf8::is_utf8($raw);
    return $raw;
}

sub ticket_of { $t->rows("SELECT * FROM tickets WHERE id = $_[0]") }
sub convs_of {
    $t->rows("SELECT id, type, title, message, created_by_id, is_private"
        . " FROM conversations WHERE ticket_id = $_[0] ORDER BY id")
}
sub files_of {
    $t->rows("SELECT id, file_name, content_type, size, conversation_id,"
        . " encode(content, 'base64') AS b64 FROM attachments"
        . " WHERE ticket_id = $_[0] ORDER BY id")
}

# --- a new ticket, plain text, UTF-8 ---------------------------------------

my $j = deliver_ok(mail(subject => 'Printer on fire',
    body => "Grüße, the printer in room 3 is on fire.\n"), 'plain text');
is $j->{outcome}, 'ticket', 'plain text: a new ticket';
my $tid = $j->{ticketId};
ok $tid, 'plain text: its id';
my ($tk) = ticket_of($tid);
is $tk->{title}, 'Printer on fire', 'plain text: title from the subject';
is $tk->{description}, 'Grüße, the printer in room 3 is on fire.',
    'plain text: description from the body, UTF-8';
is $tk->{requester_id}, $U{member1}, 'plain text: requester by From';
is $tk->{source}, 2, 'plain text: source Email';

my $admin = $t->token('admin');
my $r = $t->http(GET => "$API/$tid", token => $admin);
is $r->{status}, 200, 'GET the mailed ticket';
is $r->{json}{source}, 'Email', 'the API shows source Email';

# --- multipart/alternative, ISO-8859-1 encoded-word subject, attachment -----

my $B = 'b-outer-1';
my $A = 'b-alt-1';
my $pdf = "%PDF-1.4 fake pdf \x00\x01\x02";
my $png = "\x89PNG\r\n\x1a\nfake";
$j = deliver_ok(mail(
    subject => '=?ISO-8859-1?Q?Caf=E9_machine_est_cass=E9e?=',
    mime => qq{Content-Type: multipart/mixed; boundary="$B"\n\n}
        . "--$B\n"
        . qq{Content-Type: multipart/alternative; boundary="$A"\n\n}
        . "--$A\n"
        . "Content-Type: text/plain; charset=ISO-8859-1\n"
        . "Content-Transfer-Encoding: quoted-printable\n\n"
        . "La machine =E0 caf=E9 fuit.\n"
        . "--$A\n"
        . "Content-Type: text/html; charset=utf-8\n\n"
        . "<html><body><p>HTML version <script>alert(1)</script></p></body></html>\n"
        . "--$A--\n"
        . "--$B\n"
        . qq{Content-Type: application/pdf; name="report.pdf"\n}
        . qq{Content-Disposition: attachment; filename="report.pdf"\n}
        . "Content-Transfer-Encoding: base64\n\n"
        . MIME::Base64::encode_base64($pdf)
        . "--$B\n"
        . "Content-Type: image/png\n"
        . "Content-ID: <img1\@mail>\n"
        . "Content-Disposition: inline\n"
        . "Content-Transfer-Encoding: base64\n\n"
        . MIME::Base64::encode_base64($png)
        . "--$B\n"
        . qq{Content-Type: application/x-msdownload; name="evil.exe"\n}
        . "Content-Transfer-Encoding: base64\n\n"
        . MIME::Base64::encode_base64("MZ")
        . "--$B--\n"), 'multipart');
is $j->{outcome}, 'ticket', 'multipart: a new ticket';
my $mid = $j->{ticketId};
($tk) = ticket_of($mid);
is $tk->{title}, 'Café machine est cassée',
    'ISO-8859-1 encoded-word subject decoded';
is $tk->{description}, 'La machine à café fuit.',
    'text/plain preferred, ISO-8859-1 decoded to UTF-8';
my @f = files_of($mid);
is_deeply [map { $_->{file_name} } @f], ['report.pdf', 'part-2.png'],
    'the attachment and the inline image stored, the .exe not (allowed '
    . 'extensions)';
is MIME::Base64::decode_base64($f[0]{b64}), $pdf, 'the pdf, byte for byte';
is $f[0]{content_type}, 'application/pdf', 'its type';
is MIME::Base64::decode_base64($f[1]{b64}), $png, 'the inline image';

# --- HTML only, UTF-8 encoded-word ------------------------------------------

$j = deliver_ok(mail(
    subject => '=?UTF-8?B?' . MIME::Base64::encode_base64(
        Encode::encode('UTF-8', 'Ünïcödé subject ✓'), '') . '?=',
    mime => "Content-Type: text/html; charset=utf-8\n\n"
        . "<html><head><style>p{color:red}</style></head><body>"
        . "<p>First &amp; second</p><div>Line&nbsp;two &#8364;</div>"
        . "<script>document.write('x')</script></body></html>\n"),
    'html only');
($tk) = ticket_of($j->{ticketId});
is $tk->{title}, 'Ünïcödé subject ✓', 'UTF-8 encoded-word subject';
is $tk->{description}, "First & second\n\nLine two €",
    'HTML reduced to text: no markup, no script or style, entities decoded';

# --- replies: by References to our Message-ID, by the subject tag -----------

# a notification of the ticket, as the outbox keeps it
my $uuid = $t->psql("INSERT INTO outbox (channel, event, ticket_id, payload,"
    . " status, sent_on) VALUES ('email', 'Reply', $tid, '{}', 'sent', now())"
    . " RETURNING uuid");

$j = deliver_ok(mail(
    subject => 'Re: something else',
    headers => [['In-Reply-To' => "<$uuid\@$HOST>"],
                [References => "<ticket-$tid\@$HOST> <$uuid\@$HOST>"]],
    body => "Still burning.\n\nOn Mon, Dec 7, 2026 at 10:00 AM Helpdesk "
        . "<helpdesk\@example.com> wrote:\n> Hello,\n> there is a reply\n"),
    'Gmail-style reply');
is $j->{outcome}, 'reply', 'reply by In-Reply-To: a reply';
is $j->{ticketId}, $tid, 'on the ticket of our Message-ID';
my @c = convs_of($tid);
is scalar @c, 1, 'one conversation';
is $c[0]{type}, 'RequesterReply', 'a RequesterReply';
is $c[0]{message}, 'Still burning.', 'the quoted mail trimmed';
is $c[0]{created_by_id}, $U{member1}, 'by the requester';
is $t->psql("SELECT position('> there is a reply' IN convert_from(raw,"
    . " 'UTF8')) > 0 FROM inbound_mail WHERE conversation_id = $c[0]{id}"),
    't', 'the stored original keeps the quote';

# Outlook style, by the subject's tag only; the ticket resolved: re-opened
$t->psql("UPDATE tickets SET status_id = (SELECT id FROM statuses"
    . " WHERE status_type = 'Resolved' LIMIT 1), resolved_on = now()"
    . " WHERE id = $tid");
$j = deliver_ok(mail(
    subject => "RE: [Ticket #$tid] Printer on fire",
    body => "Not fixed.\n\n________________________________\n"
        . "From: Helpdesk <helpdesk\@example.com>\nSent: Monday\n"
        . "Subject: resolved\n\nYour ticket has been resolved.\n"),
    'Outlook-style reply');
is $j->{outcome}, 'reply', 'reply by the subject tag';
is $j->{ticketId}, $tid, 'on the tagged ticket';
@c = convs_of($tid);
is $c[-1]{message}, 'Not fixed.', 'the Outlook quote trimmed';
is $t->psql("SELECT s.status_type FROM tickets t JOIN statuses s"
    . " ON s.id = t.status_id WHERE t.id = $tid"), 'Open',
    'the resolved ticket re-opened, as reqreply does';

# the configurable tag
set(mail_ticket_tag => 'HD-');
$j = deliver_ok(mail(subject => "Re: HD-$tid again", body => "Third.\n"),
    'custom tag');
is $j->{ticketId}, $tid, 'the tag of the setting';
set(mail_ticket_tag => 'Ticket #');

# staff answering by mail: a reply, mailed to the requester
$j = deliver_ok(mail(from => 'tech1@example.com',
    subject => "Re: [Ticket #$tid]", body => "We are on it.\n"), 'staff');
@c = convs_of($tid);
is $c[-1]{type}, 'Reply', 'staff sender: a Reply';
is $c[-1]{created_by_id}, $U{tech1}, 'by the technician';

# someone else on the ticket: refused, nothing stored
my $before = count('SELECT count(*) FROM inbound_mail');
my ($rc, $out, $err) = deliver(mail(from => 'member2@example.com',
    subject => "Re: [Ticket #$tid]"));
is $rc, 67, 'another member on the ticket: 67';
like $err, qr/neither the requester/, 'the reason';
is count('SELECT count(*) FROM inbound_mail'), $before, 'nothing stored';

# --- safety ----------------------------------------------------------------

my $tickets = count('SELECT count(*) FROM tickets');
my $convs = count('SELECT count(*) FROM conversations');

for my $robot (['Auto-Submitted' => 'auto-replied'],
               [Precedence => 'bulk'], [Precedence => 'junk'],
               [Precedence => 'list'])
{
    $j = deliver_ok(mail(subject => 'Out of office', headers => [$robot]),
        "$robot->[0]: $robot->[1]");
    is $j->{outcome}, 'ignored', "$robot->[0]: $robot->[1]: ignored";
}
$j = deliver_ok(mail(from => 'helpdesk@example.com'), 'our own address');
is $j->{outcome}, 'ignored', 'mail from the helpdesk itself: ignored';
$j = deliver_ok(mail(id => "<$uuid\@$HOST>"), 'our own Message-ID');
is $j->{outcome}, 'ignored', 'one of our own messages: ignored';
is count('SELECT count(*) FROM tickets'), $tickets, 'robots: no ticket';
is count('SELECT count(*) FROM conversations'), $convs,
    'robots: no conversation';
is count("SELECT count(*) FROM inbound_mail WHERE outcome = 'ignored'"), 6,
    'each kept for audit';

# duplicate delivery
my $dup = mail(id => '<dup-1@mail.example.org>', subject => "Re: [Ticket #$tid]",
    body => "Once only.\n");
$j = deliver_ok($dup, 'first delivery');
is $j->{outcome}, 'reply', 'first delivery: a reply';
$j = deliver_ok($dup, 'second delivery');
is $j->{outcome}, 'duplicate', 'second delivery: a duplicate';
is count("SELECT count(*) FROM conversations WHERE ticket_id = $tid"
    . " AND message = 'Once only.'"), 1, 'one conversation';

# unknown sender: refused; then allowed by the setting
($rc, $out, $err) = deliver(mail(from => 'stranger@example.net'));
is $rc, 67, 'unknown sender: 67';
like $err, qr/no user has the address stranger\@example\.net/, 'the reason';
set(mail_create_requesters => 'true');
$j = deliver_ok(mail(from => 'Stranger <Stranger@Example.NET>',
    subject => 'Hello'), 'unknown sender, created');
($tk) = ticket_of($j->{ticketId});
is $tk->{requester_id}, $t->user_id('stranger@example.net'),
    'the requester created';
is $t->psql("SELECT role FROM users WHERE email = 'stranger\@example.net'"),
    'Member', 'as a Member';
set(mail_create_requesters => 'false');

# malformed and oversized: refused, nothing stored
$before = count('SELECT count(*) FROM inbound_mail');
$tickets = count('SELECT count(*) FROM tickets');
($rc, $out, $err) = deliver(mail(
    mime => qq{Content-Type: multipart/mixed; boundary="nowhere"\n\n}
        . "no boundary ever comes\n"));
is $rc, 67, 'broken MIME structure: 67';
like $err, qr/malformed MIME/, 'the reason';
($rc, $out, $err) = deliver("this is not a mail at all\r\n");
is $rc, 67, 'not a message: 67';
($rc, $out, $err) = deliver(mail(from => 'not an address'));
is $rc, 67, 'no From address: 67';
set(mail_max_bytes => 2000);
($rc, $out, $err) = deliver(mail(body => ('x' x 3000) . "\n"));
is $rc, 67, 'oversized: 67';
like $err, qr/larger than mail_max_bytes/, 'the reason';
set(mail_max_bytes => 26214400);
is count('SELECT count(*) FROM inbound_mail'), $before,
    'refusals: nothing stored';
is count('SELECT count(*) FROM tickets'), $tickets, 'refusals: no ticket';

# the database down: 75, the MTA retries
($rc) = do {
    my $err2 = gensym;
    my $pid = open3(my $in, my $o, $err2,
        "$Tickets::Test::ROOT/build/ticketsctl", '-d',
        'host=127.0.0.1 port=1 dbname=none connect_timeout=2',
        'mail-deliver');
    print {$in} mail();
    close $in;
    local $/;
    <$o>; <$err2>;
    waitpid $pid, 0;
    ($? >> 8);
};
is $rc, 75, 'database unreachable: 75';

# --- POST /api/TicketsApi/inbound ------------------------------------------

my $relay = $t->token('integration');
sub inbound {
    my ($raw, %o) = @_;
    return $t->http(POST => "$API/inbound", body => $raw,
        token => $o{token} // $relay,
        headers => { 'Content-Type' => $o{type} // 'message/rfc822' });
}

$r = inbound(mail(subject => 'Via the relay', body => "Hello relay.\n"));
is $r->{status}, 201, 'inbound: a new ticket, 201';
is $r->{json}{outcome}, 'ticket', 'inbound: outcome ticket';
my $hid = $r->{json}{ticketId};
is $r->{headers}{location}, "$API/$hid", 'inbound: Location of the ticket';
($tk) = ticket_of($hid);
is $tk->{source}, 2, 'inbound: source Email';
is $tk->{description}, 'Hello relay.', 'inbound: the text';

my $rel = mail(subject => "Re: [Ticket #$hid] Via the relay",
    body => "More.\n\n-----Original Message-----\nFrom: Helpdesk\n"
        . "Sent: today\n\nold text\n");
$r = inbound($rel);
is $r->{status}, 200, 'inbound reply: 200';
is $r->{json}{outcome}, 'reply', 'inbound reply: outcome reply';
is $r->{json}{ticketId}, $hid, 'inbound reply: the ticket';
@c = convs_of($hid);
is $c[-1]{message}, 'More.', 'inbound reply: Outlook quote trimmed';
$r = inbound($rel);
is $r->{status}, 200, 'inbound duplicate: 200';
is $r->{json}{outcome}, 'duplicate', 'inbound duplicate: outcome duplicate';
is scalar(convs_of($hid)), scalar(@c), 'inbound duplicate: nothing added';

$r = inbound(mail(headers => [['Auto-Submitted' => 'auto-generated']]));
is $r->{status}, 200, 'inbound auto-reply: 200';
is $r->{json}{outcome}, 'ignored', 'inbound auto-reply: ignored';

$before = count('SELECT count(*) FROM inbound_mail');
$r = inbound(mail(mime => qq{Content-Type: multipart/mixed; boundary="x"\n\n}
    . "nothing\n"));
$t->problem_ok($r, 400, 'inbound broken MIME: 400');
like $r->{json}{detail} // $r->{json}{title} // '', qr/malformed MIME/,
    'inbound broken MIME: the reason';
$r = inbound(mail(from => 'nobody@example.net'));
$t->problem_ok($r, 403, 'inbound unknown sender: 403');
$r = inbound(mail(), type => 'text/plain');
$t->problem_ok($r, 415, 'inbound as text/plain: 415');
$r = inbound(mail(), token => $t->token('admin'));
$t->problem_ok($r, 403, 'inbound without Tickets.Inbound: 403');
$r = $t->http(POST => "$API/inbound", body => mail(),
    headers => { 'Content-Type' => 'message/rfc822' });
is $r->{status}, 401, 'inbound without a token: 401';
is count('SELECT count(*) FROM inbound_mail'), $before,
    'inbound refusals: nothing stored';

# --- the round trip: our notification, a reply to it, the same ticket -------

$r = $t->form_post("$API/reply/$hid", [Id => $hid, Title => 'We need a photo',
    SendTo => 'member1@example.com', Message => 'Please send a photo.'],
    token => $t->token('tech1'));
is $r->{status}, 200, 'round trip: staff reply by the API';
my ($note) = $sink->wait_mails(sub {
    ($_[0]->header('X-Tickets-Ticket-Id') // '') eq $hid
        && ($_[0]->header('X-Tickets-Event') // '') eq 'Reply'
}, 1, 10);
ok $note, 'round trip: the notification reached the SMTP sink';
my $note_id = $note ? $note->header('Message-ID') : '';
like $note_id, qr/^<[0-9a-f-]{36}\@\Q$HOST\E>$/,
    'round trip: it carries our Message-ID';
like $note ? $note->{subject} : '', qr/#\Q$hid\E\b/,
    'round trip: its subject carries the ticket tag';
like $note ? ($note->header('References') // '') : '',
    qr/<ticket-\Q$hid\E\@\Q$HOST\E>/, 'round trip: References name the ticket';

# the requester's client answers it; the subject lost its tag on the way
(my $quoted = $note ? $note->{body} : '') =~ s/^/> /mg;
$j = deliver_ok(mail(subject => 'Re: photo',
    headers => [['In-Reply-To' => $note_id], [References => $note_id]],
    body => "Here is the photo.\n\nOn Mon, 7 Dec 2026, Helpdesk wrote:\n"
        . $quoted,
    mime => undef), 'round trip reply');
is $j->{outcome}, 'reply', 'round trip: a reply';
is $j->{ticketId}, $hid, 'round trip: on the same ticket';
@c = convs_of($hid);
is $c[-1]{type}, 'RequesterReply', 'round trip: a RequesterReply';
is $c[-1]{message}, 'Here is the photo.', 'round trip: without the quote';

# a tag of the site's own: outgoing subjects carry it, replies thread by it
set(mail_ticket_tag => 'HD-');
$r = $t->form_post("$API/reply/$hid", [Id => $hid, Title => 'Anything else?',
    SendTo => 'member1@example.com', Message => 'Done?'],
    token => $t->token('tech1'));
is $r->{status}, 200, 'custom tag: staff reply by the API';
($note) = $sink->wait_mails(sub {
    ($_[0]->header('X-Tickets-Ticket-Id') // '') eq $hid
        && ($_[0]->{subject} // '') =~ /Anything else/
}, 1, 10);
like $note ? $note->{subject} : '', qr/^\[HD-$hid\] .*Anything else\?$/,
    'custom tag: the outgoing subject carries it';
$j = deliver_ok(mail(subject => 'Re: ' . ($note ? $note->{subject} : ''),
    body => "Yes, done.\n"), 'custom tag reply');
is $j->{ticketId}, $hid, 'custom tag: the reply threads by the subject alone';
set(mail_ticket_tag => 'Ticket #');

done_testing;
