#!/usr/bin/perl

# POST /api/TicketsApi/register with multipart/form-data: fields, Uploads
# kept with their sha256, parts skipped by extension or size, safe file
# names, malformed bodies (seed 3 and notes, SPEC 4 "Attachments").

use strict;
use warnings;
use utf8;

use Digest::SHA qw(sha256_hex);
use Test::More;
use Tickets::Test;

my $t = Tickets::Test->new;
# small enough to test both sides of the limit cheaply
$t->ctl_ok(qw(setting set max_file_size 2000));
$t->run;

my $admin = $t->token('admin');
my $REGISTER = '/api/TicketsApi/register';
my @FIELDS = (Title => 'Broken screen', Description => 'See the photos.',
    CreatorId => $t->user_id('member1'), SiteId => 1, DepartmentId => 1,
    TicketStatusId => 1, TicketType => 'Incident');

sub post {
    my (%o) = @_;
    return $t->multipart_post($REGISTER, $o{fields} // \@FIELDS,
        token => $admin, %o);
}

sub count {
    my ($table) = @_;
    return scalar $t->psql("SELECT count(*) FROM $table");
}

# The attachments of the answer, compared with what was sent and with
# what the database holds: [file name, content type, bytes].
sub attachments_are {
    my ($r, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is $r->{status}, 201, "$name: 201" or diag substr $r->{content}, 0, 500;
    my @got = sort { $a->{fileName} cmp $b->{fileName} }
        grep { ref $_ eq 'HASH' } @{$r->{json}{attachments} // []};
    my @exp = sort { $a->{fileName} cmp $b->{fileName} } map { {
        fileName => $_->[0], contentType => $_->[1], size => length $_->[2],
        sha256 => sha256_hex($_->[2]) } } @$want;
    my @ids = map { $_->{id} } @got;
    is_deeply [map { my %a = %$_; delete $a{id}; \%a } @got], \@exp,
        "$name: attachments {fileName, contentType, size, sha256}";
    my $tid = $r->{json}{id} // 0;
    my %stored = map { $_->{file_name} => $_ } $t->rows('SELECT id, file_name,'
        . " encode(content, 'hex') AS hex FROM attachments WHERE ticket_id"
        . " = $tid");
    is_deeply [sort keys %stored], [sort map { $_->[0] } @$want],
        "$name: the stored files";
    for my $w (@$want) {
        is $stored{$w->[0]}{hex}, unpack('H*', $w->[2]),
            "$name: $w->[0] stored byte for byte";
    }
    is_deeply [sort { $a <=> $b } grep defined, @ids],
        [sort { $a <=> $b } map { $_->{id} } values %stored],
        "$name: attachment ids";
}

# Fields in multipart, with UTF-8 and line breaks, no files.
my $r = post(fields => [@FIELDS[0 .. 1], Description => "é\r\n--x\r\n",
    @FIELDS[4 .. $#FIELDS]]);
is $r->{status}, 201, 'multipart without files: 201';
$t->ticket_ok($r->{json}, $r->{json}{id} // 0, 'the model');
is $r->{json}{description}, "é\r\n--x\r\n", 'a value with CRLF and dashes';
like $r->{headers}{location} // '', qr{/api/TicketsApi/\d+$}i, 'Location';

# Allowed files are kept, a disallowed extension is skipped silently.
my $binary = join '', map { chr } 0 .. 255;
$binary .= "\r\n--not-the-boundary\r\n\0\r\n\r\n";
attachments_are(post(files => [
    ['Uploads', 'notes.txt', 'text/plain', "hello\n"],
    ['Uploads', 'photo.png', 'image/png', $binary],
    ['Uploads', 'setup.exe', 'application/octet-stream', 'MZ' . 'x' x 100],
    ['Uploads', 'script.sh', 'text/x-sh', "#!/bin/sh\n"],
    ['Uploads', 'noextension', 'text/plain', 'plain'],
]), [['notes.txt', 'text/plain', "hello\n"],
     ['photo.png', 'image/png', $binary]], 'allowed and disallowed');

# max_file_size (2000 here): at the limit kept, past it skipped.
attachments_are(post(files => [
    ['Uploads', 'exact.pdf', 'application/pdf', 'p' x 2000],
    ['Uploads', 'big.pdf', 'application/pdf', 'q' x 2001],
]), [['exact.pdf', 'application/pdf', 'p' x 2000]], 'max_file_size');

# File names are reduced to a safe base name.
attachments_are(post(files => [
    ['Uploads', '../../etc/passwd.txt', 'text/plain', 'root:x:0:0'],
    ['Uploads', 'C:\\Users\\me\\report.txt', 'text/plain', 'windows'],
]), [['passwd.txt', 'text/plain', 'root:x:0:0'],
     ['report.txt', 'text/plain', 'windows']], 'unsafe file names');

# Control and format characters go before the dot rules: a bidi override
# cannot make "invoice<RLO>fdp.txt" display as "invoicetxt.pdf", nor a BOM
# or a C1 control keep a dot name (fuzzing findings, docs/reliability.md).
attachments_are(post(files => [
    ['Uploads', "invoice\x{202E}fdp.txt", 'text/plain', 'bidi'],
    ['Uploads', "\x{FEFF}.notes.txt", 'text/plain', 'bom'],
    ['Uploads', "a\x{85}\x{200B}b.txt", 'text/plain', 'c1'],
]), [['invoicefdp.txt', 'text/plain', 'bidi'],
     ['notes.txt', 'text/plain', 'bom'],
     ['ab.txt', 'text/plain', 'c1']], 'Cc and Cf characters in file names');

# The extension is compared without case; the part name as well.
attachments_are(post(files => [
    ['uploads', 'SCAN.PDF', 'application/pdf', '%PDF-1.4'],
]), [['SCAN.PDF', 'application/pdf', '%PDF-1.4']],
    'upper-case extension, part named uploads');

# A browser sends an empty file input as filename="" and no bytes.
attachments_are(post(files => [['Uploads', '', 'application/octet-stream',
    '']]), [], 'an empty file input is not an attachment');

# A file part under another name is not an upload.
attachments_are(post(files => [['Photo', 'a.png', 'image/png', 'png']]), [],
    'a file part not named Uploads');

# Malformed multipart bodies: 400, nothing stored.
my ($tickets, $files) = (count('tickets'), count('attachments'));
my ($body, $boundary) = Tickets::Test::multipart_body(\@FIELDS,
    [['Uploads', 'a.txt', 'text/plain', 'abc']]);
(my $cut = $body) =~ s/--\Q$boundary\E--\r\n$//;
$r = post(raw => $cut, boundary => $boundary);
$t->problem_ok($r, 400, 'no final boundary: 400');
(my $trunc = $body) =~ s/abc\r\n--\Q$boundary\E--\r\n$/ab/;
$r = post(raw => $trunc, boundary => $boundary);
$t->problem_ok($r, 400, 'a body cut inside a file: 400');
$r = post(raw => $body, boundary => 'another-boundary');
$t->problem_ok($r, 400, 'a boundary not in the body: 400');
$r = $t->http(POST => $REGISTER, token => $admin, body => $body,
    headers => { 'Content-Type' => 'multipart/form-data' });
$t->problem_ok($r, 400, 'multipart without a boundary parameter: 400');
$r = post(raw => "--$boundary\r\nContent-Type: text/plain\r\n\r\nx\r\n"
    . "--$boundary--\r\n", boundary => $boundary);
$t->problem_ok($r, 400, 'a part without Content-Disposition: 400');
is count('tickets'), $tickets, 'no ticket from a malformed body';
is count('attachments'), $files, 'no attachment from a malformed body';

# A validation error with files stores nothing either.
$r = post(fields => [@FIELDS[2 .. $#FIELDS]],
    files => [['Uploads', 'a.txt', 'text/plain', 'abc']]);
$t->problem_ok($r, 400, 'no Title, with a file: 400');
is_deeply [keys %{$r->{json}{errors} // {}}], ['Title'], 'errors: Title';
is count('attachments'), $files, 'the file was not stored';

# The boundary may be quoted; the media type is case-insensitive.
($body, $boundary) = Tickets::Test::multipart_body(\@FIELDS);
$r = $t->http(POST => $REGISTER, token => $admin, body => $body, headers => {
    'Content-Type' => "Multipart/Form-Data; charset=utf-8; boundary=\"$boundary\"" });
is $r->{status}, 201, 'quoted boundary, mixed-case media type: 201';

# Larger than client_max_body_size (1m): 413.
$r = post(files => [['Uploads', 'huge.pdf', 'application/pdf',
    'h' x 1_100_000]]);
$t->problem_ok($r, 413, 'a multipart body of 1.1 MB: 413');
is count('tickets'), $tickets + 1, 'nothing more was created';

done_testing;
