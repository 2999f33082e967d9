#!/usr/bin/perl

# Hostile input (issue 13, docs/reliability.md "Hostile input"), on nginx
# with the limits and timeouts docs/configuration.md recommends: oversized
# and malformed multipart bodies, huge headers, NUL bytes and overlong
# UTF-8, hostile file names, JSON injection in every text field, integer
# overflow in every id and page parameter, forged tokens, and slow clients
# (slowloris) next to a normal load.  Each answer is the documented 4xx
# (problem+json when the module answers), nothing is stored (row counts),
# no 5xx, and nginx logs no [alert] or [crit].

use strict;
use warnings;
use utf8;

use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);
use Tickets::Test;

binmode Test::More->builder->$_, ':encoding(UTF-8)'
    for qw(output failure_output todo_output);

my $t = Tickets::Test->new->run(http_extra => $Tickets::Test::RECOMMENDED_LIMITS,
    max_body => '2m');
my $admin = $t->token('admin');
my %U = map { $_ => $t->user_id($_) } qw(admin tech1 member1);
my $JSON = JSON::PP->new->utf8->canonical;

my @TABLES = qw(tickets conversations attachments history outbox tasks
    idempotency_keys closures resolutions close_links);

sub counts {
    return scalar $t->psql('SELECT concat_ws(\'|\', '
        . join(', ', map { "(SELECT count(*) FROM $_)" } @TABLES) . ')');
}

sub nothing_stored {
    my ($before, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is counts(), $before, "$name: nothing stored";
}

# One request on its own connection, bytes as given (HTTP/1.0: the answer
# ends with the connection).  {status, headers, content, json}; status 0
# when the server closed or reset the connection without an answer.
sub raw {
    my ($bytes, %o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port, Proto => 'tcp', Timeout => 5)
        or die "connect: $!";
    local $SIG{PIPE} = 'IGNORE';
    my $sel = IO::Select->new($s);
    my ($off, $in) = (0, '');
    while ($off < length $bytes) {
        my $n = syswrite $s, $bytes, 65536, $off;
        last unless $n;
        $off += $n;
        # an answer before the end (nginx refusing early) stops the send
        last if $sel->can_read(0);
    }
    my $deadline = time + ($o{timeout} // 10);
    while (time < $deadline && $sel->can_read($deadline - time)) {
        my $n = sysread $s, my $buf, 65536;
        last unless $n;
        $in .= $buf;
    }
    close $s;
    my %r = (status => 0, headers => {}, content => '');
    if ($in =~ s/^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n(.*?)\r\n\r\n//s) {
        $r{status} = $1;
        for (split /\r\n/, $2) {
            my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
            $r{headers}{lc $k} = $v;
        }
        $r{content} = $in;
        $r{json} = eval { $JSON->decode($in) }
            if ($r{headers}{'content-type'} // '') =~ /json/;
    }
    return \%r;
}

sub request {
    my ($method, $path, %o) = @_;
    my $body = $o{body} // '';
    my $h = "$method $path HTTP/1.0\r\nHost: 127.0.0.1\r\n";
    $h .= "Authorization: Bearer $o{token}\r\n" if defined $o{token};
    $h .= "$_: $o{headers}{$_}\r\n" for sort keys %{$o{headers} // {}};
    $h .= 'Content-Length: ' . length($body) . "\r\n"
        if length $body || $method eq 'POST';
    return raw("$h\r\n$body", %o);
}

# A module answer: the status, problem+json, and no 5xx by construction.
sub refused_ok {
    my ($r, $status, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    $r->{reason} //= '';
    $t->problem_ok($r, $status, $name);
}

my @BASE = (Title => 'Printer', Description => 'Jammed.',
    CreatorId => $U{member1}, SiteId => 1, DepartmentId => 1,
    TicketStatusId => 1, TicketType => 'Incident');

sub multipart {
    my ($body, $boundary, %o) = @_;
    return request(POST => '/api/TicketsApi/register', token => $admin,
        body => $body, headers => {
            'Content-Type' => "multipart/form-data; boundary=$boundary",
            %{$o{headers} // {}} });
}

sub field {
    my ($b, $name, $value, $extra) = @_;
    return "--$b\r\nContent-Disposition: form-data; name=\"$name\"\r\n"
        . ($extra // '') . "\r\n$value\r\n";
}

sub base_fields {
    my ($b) = @_;
    my $s = '';
    for (my $i = 0; $i < @BASE; $i += 2) {
        $s .= field($b, $BASE[$i], $BASE[$i + 1]);
    }
    return $s;
}

my $ticket = $t->form_post('/api/TicketsApi/register', \@BASE,
    token => $admin)->{json}{id} or BAIL_OUT('no ticket to work on');

# Multipart -----------------------------------------------------------------

{
    my $b = 'hostileBoundary';
    my $before = counts();

    my $body = base_fields($b) . join('', map { field($b, "F$_", 'x') }
        1 .. 10_000) . "--$b--\r\n";
    refused_ok(multipart($body, $b), 400, '10,000 parts: 400');

    $body = base_fields($b) . "--$b\r\nContent-Disposition: form-data;"
        . " name=\"Title\"\r\nX-Pad: " . ('a' x 9000) . "\r\n\r\nx\r\n"
        . "--$b--\r\n";
    refused_ok(multipart($body, $b), 400, 'a part header past 8 KiB: 400');

    $body = base_fields($b) . "--$b\r\nContent-Disposition: form-data;"
        . " name=\"Title\"\r\n" . join('', map { "X-$_: y\r\n" } 1 .. 2000)
        . "\r\nx\r\n--$b--\r\n";
    refused_ok(multipart($body, $b), 400, '2000 header lines in a part: 400');

    my $b71 = 'b' x 71;
    refused_ok(multipart(base_fields($b71) . "--$b71--\r\n", $b71), 400,
        'a boundary of 71 characters: 400');
    my $b200 = 'c' x 200;
    refused_ok(multipart(base_fields($b200) . "--$b200--\r\n", $b200), 400,
        'a boundary of 200 characters: 400');

    refused_ok(multipart(base_fields($b), $b), 400,
        'no final delimiter: 400');
    refused_ok(multipart(base_fields($b) . "--$b--\r\n", 'other'), 400,
        'a body without its boundary: 400');
    nothing_stored($before, 'malformed multipart');

    # 70 characters is the most RFC 2046 allows: accepted
    my $b70 = 'd' x 70;
    my $r = multipart(base_fields($b70) . "--$b70--\r\n", $b70);
    is $r->{status}, 201, 'a boundary of 70 characters: 201'
        or diag $r->{content};

    # nested multipart is a field's text, never parsed again
    my $inner = "--inner\r\nContent-Disposition: form-data; name=\"Title\""
        . "\r\n\r\nInjected\r\n--inner--";
    $body = base_fields($b);
    $body =~ s/(name="Description"\r\n)\r\nJammed\./$1Content-Type: multipart\/mixed; boundary=inner\r\n\r\n$inner/
        or die 'no Description';
    $r = multipart($body . "--$b--\r\n", $b);
    is $r->{status}, 201, 'a nested multipart part: 201' or diag $r->{content};
    is $r->{json}{description}, $inner, 'nested: kept as the text it is';
    is $r->{json}{title}, 'Printer', 'nested: its fields are not fields';
}

# Headers -------------------------------------------------------------------

{
    my $before = counts();
    my $r = request(GET => "/api/TicketsApi/$ticket", token => $admin,
        headers => { 'X-Big' => 'a' x (1024 * 1024) });
    ok $r->{status} == 400 || $r->{status} == 0,
        "one header of 1 MB: 400 from nginx or the connection closed"
        . " ($r->{status})";
    $r = request(GET => "/api/TicketsApi/$ticket", token => $admin,
        headers => { map { sprintf('X-H%05d', $_) => 'v' x 100 } 1 .. 10_000 });
    ok $r->{status} == 400 || $r->{status} == 0,
        "1 MB of headers in 10,000 lines: 400 or closed ($r->{status})";
    $r = raw("GET /api/TicketsApi/$ticket?" . ('a' x 20_000)
        . " HTTP/1.0\r\n\r\n");
    ok $r->{status} == 414 || $r->{status} == 400,
        "a request line of 20 KB: 414 ($r->{status})";
    $r = request(POST => '/api/TicketsApi/register',
        token => 'x' x (1024 * 1024), body => 'Title=x', headers => {
            'Content-Type' => 'application/x-www-form-urlencoded' });
    ok $r->{status} == 400 || $r->{status} == 0,
        "a bearer token of 1 MB: 400 or closed ($r->{status})";
    nothing_stored($before, 'huge headers');
    is $t->http(GET => '/api/health')->{status}, 200, 'and nginx answers';
}

# NUL bytes and overlong UTF-8 ---------------------------------------------

{
    my $before = counts();
    for my $path ("/api/TicketsApi/$ticket%00", "/api/TicketsApi/%00",
        "/api/TicketsApi/${ticket}%00/history", '/api/TicketsApi/%C0%AF',
        "/api/TicketsApi/%C0%AE%C0%AE/$ticket",
        "/api/TicketsApi/update%00/$ticket")
    {
        my $r = request(GET => $path, token => $admin);
        ok $r->{status} == 404 || $r->{status} == 400,
            "GET $path: 404 or 400 ($r->{status})";
        ok $r->{status} == 400 || ($r->{headers}{'content-type'} // '')
            =~ m{^application/problem\+json}, "GET $path: problem+json"
            if $r->{status} == 404;
    }

    my $form = sub {
        request(POST => '/api/TicketsApi/register', token => $admin,
            body => $_[0], headers => {
                'Content-Type' => 'application/x-www-form-urlencoded' });
    };
    my $base = join '&', map { Tickets::Test::urlencode($BASE[2 * $_]) . '='
        . Tickets::Test::urlencode($BASE[2 * $_ + 1]) } 0 .. @BASE / 2 - 1;
    for my $case (['Title=a%00b', 'a NUL in a field'],
        ['Ti%00tle=x', 'a NUL in a field name'],
        ['Title=%C0%AF', 'overlong UTF-8 (/)'],
        ['Title=%E0%80%AE', 'overlong UTF-8, 3 bytes'],
        ['Title=%ED%A0%80', 'a UTF-16 surrogate'],
        ['Title=%F4%90%80%80', 'past U+10FFFF'],
        ['Title=%FF', 'not UTF-8 at all'],
        ['Description=%C0%80', 'overlong NUL'])
    {
        (my $body = $base) =~ s/(^|&)\Q@{[(split '=', $case->[0])[0]]}\E=[^&]*//;
        my $r = $form->("$body&$case->[0]");
        refused_ok($r, 400, "$case->[1]: 400");
    }

    my $b = 'nulBoundary';
    my $body = base_fields($b);
    $body =~ s/Jammed\./Jam\x00med/;
    refused_ok(multipart("$body--$b--\r\n", $b), 400,
        'a raw NUL in a multipart field: 400');
    $body = base_fields($b);
    $body =~ s/Jammed\./\xC0\xAF/;
    refused_ok(multipart("$body--$b--\r\n", $b), 400,
        'raw overlong UTF-8 in a multipart field: 400');
    refused_ok(request(GET => "/api/TicketsApi?search=%00", token => $admin),
        400, 'a NUL in a query parameter: 400');
    refused_ok(request(GET => "/api/TicketsApi?search=%C0%AF",
        token => $admin), 400, 'overlong UTF-8 in a query parameter: 400');
    nothing_stored($before, 'NUL and overlong UTF-8');
}

# File names ---------------------------------------------------------------

{
    my @names = ('../../../../etc/passwd.txt', '..\\..\\windows\\win.ini.txt',
        '/etc/shadow.txt', 'C:\\boot.txt', '....//....//x.txt',
        "a\x01b\x1fc\x7f.txt", ".hidden.txt", "..txt",
        "invoice\xe2\x80\xaefdp.txt", "\xef\xbb\xbf.bashrc.txt",
        "x\xc2\x85y.txt", 'a"b;c=d.txt', "%2e%2e%2fup.txt",
        'n' x 500 . '.txt');
    my $b = 'fileBoundary';
    $t->ctl_ok('setting', 'set', 'allowed_extensions', 'txt');
    my @ids;
    for my $i (0 .. $#names) {
        my $shown = $names[$i] =~ s/([^\x20-\x7e])/sprintf '\\x%02x', ord $1/ger;
        my $before = counts();
        my $body = base_fields($b) . "--$b\r\nContent-Disposition: form-data;"
            . " name=\"Uploads\"; filename=\"$names[$i]\"\r\n"
            . "Content-Type: text/plain\r\n\r\nfile $i\r\n--$b--\r\n";
        my $r = multipart($body, $b);
        if ($r->{status} == 400) {
            # a part header the parser refuses (a raw control byte, a
            # broken quoted string): refused whole
            refused_ok($r, 400, "file name '$shown': refused, 400");
            nothing_stored($before, "file name '$shown'");
            next;
        }
        is $r->{status}, 201, "file name '$shown': 201"
            or diag $r->{content};
        push @ids, $r->{json}{id} // 0;
    }
    my @rows = $t->psql("SELECT id, file_name FROM attachments"
        . " WHERE ticket_id IN (" . join(',', @ids, 0) . ") ORDER BY id");
    # a part whose name loses its allowed extension is skipped (compat)
    ok @rows >= 8, 'hostile file names: stored (' . scalar(@rows) . ')';
    for my $row (@rows) {
        my ($aid, $name) = split /\|/, $row, 2;
        my $shown = $name =~ s/([^\x20-\x7e])/sprintf '\\x%02x', ord $1/ger;
        unlike $name, qr{[/\\]}, "stored name '$shown': no separator";
        unlike $name, qr/^\./, "stored name '$shown': no leading dot";
        unlike $name, qr/[\x00-\x1f\x7f]/, "stored name '$shown': no C0 control";
        ok length($name) > 0 && length($name) <= 255,
            "stored name '$shown': 1 to 255 characters";
        my $g = $t->http(GET => "/api/TicketsApi/attachment/$aid",
            token => $admin);
        is $g->{status}, 200, "attachment $aid: 200";
        my $cd = $g->{headers}{'content-disposition'} // '';
        like $cd, qr/^attachment;/, "attachment $aid: Content-Disposition";
        unlike $cd, qr/[\x00-\x1f\x7f]/, "attachment $aid: no control bytes";
        unlike $cd, qr{filename\*=[^;]*[/\\]}i,
            "attachment $aid: no separator in the file name";
    }
    # TODO(lead): bidi, C1 and U+FEFF are left to the sanitiser fix (issue
    # 13, part 2); this file asserts only what holds either way.
}

# JSON injection in every text field ---------------------------------------

{
    my $evil = "q\"},{\"isDeleted\":true,\"x\":\"\\u0000</script><!--' OR"
        . " '1'='1; DROP TABLE tickets;-- \x{2028}\x{2029} \\ \x{2603}"
        . " \x{1d11e} \t\\\"";
    my %f = (@BASE, Title => $evil, Description => "$evil\n$evil");
    my $tid = $t->form_post('/api/TicketsApi/register', [%f],
        token => $admin);
    is $tid->{status}, 201, 'register with JSON in Title and Description: 201'
        or diag $tid->{content};
    my $id = $tid->{json}{id};
    my $g = $t->http(GET => "/api/TicketsApi/$id", token => $admin)->{json};
    is $g->{title}, $evil, 'Title round-trips exactly';
    is $g->{description}, "$evil\n$evil", 'Description round-trips exactly';
    is $g->{isDeleted}, JSON::PP::false, 'and injects nothing';

    my %conv;
    for my $op (qw(note reply forward)) {
        my $r = $t->form_post("/api/TicketsApi/$op/$id", [Id => $id,
            Message => "$op $evil", IsPrivate => 'false',
            ($op ne 'note' ? (SendTo => 'x@example.com') : ()),
            Title => $evil], token => $admin);
        ok $r->{status} == 200 || $r->{status} == 201, "$op with JSON: 2xx"
            or diag $r->{content};
    }
    my $c = $t->http(GET => "/api/TicketsApi/$id/conversations",
        token => $admin)->{json};
    for my $op (qw(note reply forward)) {
        ok((grep { ($_->{message} // '') eq "$op $evil" } @$c),
            "$op Message round-trips exactly");
    }
    my $r = $t->form_post("/api/TicketsApi/$id/tasks", [Title => $evil,
        AssignedUser => $U{tech1}], token => $admin);
    is $r->{status}, 201, 'task with JSON in Title: 201' or diag $r->{content};
    my $tasks = $t->http(GET => "/api/TicketsApi/$id/tasks",
        token => $admin)->{json};
    is $tasks->[0]{title}, $evil, 'task Title round-trips exactly';
    $r = $t->form_post("/api/TicketsApi/escalate/$id", [Reason => $evil],
        token => $admin);
    is $r->{status}, 204, 'escalate with JSON in Reason: 204';
    $c = $t->http(GET => "/api/TicketsApi/$id/conversations",
        token => $admin)->{json};
    ok((grep { index($_->{message} // '', $evil) >= 0 } @$c),
        'escalation Reason round-trips exactly');
    $r = $t->form_post("/api/TicketsApi/resolve/$id", [TicketId => $id,
        ResolvedBy => $U{tech1}, Resolution => $evil], token => $admin);
    is $r->{status}, 204, 'resolve with JSON: 204' or diag $r->{content};
    $g = $t->http(GET => "/api/TicketsApi/$id", token => $admin)->{json};
    is $g->{resolution}{resolution}, $evil, 'Resolution round-trips exactly';
    $r = $t->form_post("/api/TicketsApi/close/$id", [TicketId => $id,
        CloseBy => $U{tech1}, Comments => $evil, ClosureComments => "c$evil"],
        token => $admin);
    is $r->{status}, 204, 'close with JSON: 204' or diag $r->{content};
    $g = $t->http(GET => "/api/TicketsApi/$id", token => $admin)->{json};
    is $g->{closure}{comments}, $evil, 'Comments round-trip exactly';
    is $g->{closure}{closureComments}, "c$evil",
        'ClosureComments round-trip exactly';
    my $l = $t->http(GET => '/api/TicketsApi?listType=AllTickets&search='
        . Tickets::Test::urlencode(substr $evil, 0, 40), token => $admin);
    is $l->{status}, 200, 'a search for the text: 200';
    ok ref $l->{json} eq 'ARRAY', 'a search for the text: a JSON array';
}

# Integer overflow in every id and page parameter ---------------------------

{
    my $before = counts();
    my @big = ('9223372036854775808', '18446744073709551617',
        '99999999999999999999999999', '-1', '0', '1e3', '0x10', '+1');
    my @paths = ('%s', '%s/conversations', '%s/history', '%s/tasks',
        'metadata/%s', 'attachment/%s');
    my @posts = ('update/%s', 'close/%s', 'resolve/%s', 'reopen/%s',
        'note/%s', 'reply/%s', 'forward/%s', 'reqreply/%s', 'escalate/%s',
        'tasks/complete/%s', '%s/tasks');
    for my $n (@big) {
        my @bad;
        for my $p (@paths) {
            my $r = request(GET => '/api/TicketsApi/' . sprintf($p, $n),
                token => $admin);
            push @bad, "GET $p: $r->{status}" unless $r->{status} == 404
                && ($r->{headers}{'content-type'} // '') =~ /problem\+json/;
        }
        for my $p (@posts) {
            my $r = request(POST => '/api/TicketsApi/' . sprintf($p, $n),
                token => $admin, body => 'Id=1', headers => {
                    'Content-Type' => 'application/x-www-form-urlencoded' });
            push @bad, "POST $p: $r->{status}" unless $r->{status} == 404
                && ($r->{headers}{'content-type'} // '') =~ /problem\+json/;
        }
        my $r = request(DELETE => "/api/TicketsApi/$n", token => $admin);
        push @bad, "DELETE: $r->{status}" unless $r->{status} == 404;
        ok !@bad, "id $n in every path: 404 problem+json" or diag "@bad";
    }

    my @ids = qw(SiteId DepartmentId TicketStatusId TicketCategoryId
        TierLevelId GroupId ClientId TicketPriorityId ServiceId ImpactId
        UrgencyId SLAId SelectedTags);
    for my $n ('2147483648', '9223372036854775808', '-1', '1.5', '12abc',
        "\x{0661}")
    {
        my @bad;
        for my $f (@ids) {
            my @form = grep { defined } map { $_ % 2 == 0 && $BASE[$_] eq $f
                ? (undef, undef) : $BASE[$_] } 0 .. $#BASE;
            my @pairs;
            for (my $i = 0; $i < @BASE; $i += 2) {
                push @pairs, $BASE[$i], $BASE[$i + 1] unless $BASE[$i] eq $f;
            }
            my $r = $t->form_post('/api/TicketsApi/register', [@pairs,
                $f => $n], token => $admin);
            my $errs = join ',', map { lc } keys %{$r->{json}{errors} // {}};
            push @bad, "register $f: $r->{status} [$errs]"
                unless $r->{status} == 400 && $errs =~ /\b\Q${\lc $f}\E\b/;
            next if $f eq 'SLAId' || $f eq 'SelectedTags';
            # compat: TicketStatusId applies only when > 0
            next if $f eq 'TicketStatusId' && $n eq '-1';
            $r = $t->form_post("/api/TicketsApi/update/$ticket", [Id => $ticket,
                $f => $n], token => $admin);
            $errs = join ',', map { lc } keys %{$r->{json}{errors} // {}};
            push @bad, "update $f: $r->{status} [$errs]"
                unless $r->{status} == 400 && $errs =~ /\b\Q${\lc $f}\E\b/;
        }
        for my $f (qw(GroupId TierLevelId)) {
            my $r = $t->form_post("/api/TicketsApi/escalate/$ticket",
                [Reason => 'x', $f => $n], token => $admin);
            push @bad, "escalate $f: $r->{status}" unless $r->{status} == 400;
        }
        for my $op (qw(close resolve)) {
            my $r = $t->form_post("/api/TicketsApi/$op/$ticket",
                [TicketId => $n, CloseBy => $U{tech1}, ResolvedBy => $U{tech1},
                 Resolution => 'x'], token => $admin);
            push @bad, "$op TicketId: $r->{status}" unless $r->{status} == 400;
        }
        my $r = $t->form_post("/api/TicketsApi/note/$ticket", [Id => $n,
            Message => 'x'], token => $admin);
        push @bad, "note Id: $r->{status}" unless $r->{status} == 400;
        for my $q (map { "$_=" . Tickets::Test::urlencode($n) }
            qw(page pageSize))
        {
            $r = $t->http(GET => "/api/TicketsApi?$q", token => $admin);
            push @bad, "list $q: $r->{status}" unless $r->{status} == 400
                && ($r->{headers}{'content-type'} // '') =~ /problem\+json/;
        }
        ok !@bad, "'$n' in every id field and page parameter: 400"
            or diag join "\n", @bad;
    }
    # dates at the edge of four-digit years: in UTC they must stay inside,
    # or 1 BC would read back as year 1 and 10000 as five digits
    my @bad;
    for my $d ('0001-01-01T00:00:00+14:00', '9999-12-31T23:59:59-14:00',
        '0000-12-31T23:59:59Z', '10000-01-01T00:00:00Z')
    {
        my $r = $t->form_post('/api/TicketsApi/register', [@BASE,
            DueDate => $d], token => $admin);
        push @bad, "register $d: $r->{status}" unless $r->{status} == 400;
        $r = $t->form_post("/api/TicketsApi/update/$ticket", [Id => $ticket,
            DueDate => $d], token => $admin);
        push @bad, "update $d: $r->{status}" unless $r->{status} == 400;
        $r = $t->form_post("/api/TicketsApi/$ticket/tasks", [Title => 't',
            DueDate => $d], token => $admin);
        push @bad, "task $d: $r->{status}" unless $r->{status} == 400;
    }
    ok !@bad, 'dates outside years 1 to 9999 in UTC: 400'
        or diag join "\n", @bad;
    nothing_stored($before, 'integer overflow');
}

# Tokens --------------------------------------------------------------------

{
    my $before = counts();
    my $reg = sub {
        my ($tok) = @_;
        return $t->form_post('/api/TicketsApi/register', \@BASE,
            token => $tok);
    };
    my $evil = Tickets::Test::random_secret(48);
    my %cases = (
        'alg none' => $t->token('admin', header => { alg => 'none' }),
        'alg None' => $t->token('admin', header => { alg => 'None' }),
        'alg none with a signature' => do {
            my ($h, $p, $s) = split /\./, $t->token('admin');
            Tickets::Test::b64url('{"alg":"none","typ":"JWT"}') . ".$p.$s" },
        'HS384 with the secret' => $t->token('admin',
            header => { alg => 'HS384' }),
        'RS256 signed with HMAC (confusion)' => $t->token('admin',
            header => { alg => 'RS256' }),
        'kid pointing at a file, another key' => $t->token('admin',
            header => { kid => '../../../../dev/null' }, secret => $evil),
        'jku to a key of ours, another key' => $t->token('admin',
            header => { jku => 'http://127.0.0.1:1/jwks.json',
                        kid => 'evil' }, secret => $evil),
        'x5u and jwk headers, another key' => $t->token('admin',
            header => { x5u => 'http://127.0.0.1:1/x.pem',
                        jwk => { kty => 'oct', k => 'AAAA' } },
            secret => $evil),
        'a token of 8 KB' => $t->token('admin', pad => 'p' x 6000,
            secret => $evil),
        'a token of 12 KB of dots' => '.' x 12_000,
        'three empty parts' => '..',
        'sub of 10 KB' => $t->token(undef, sub => 'x' x 10_000),
        'exp overflow' => $t->token('admin',
            exp => '99999999999999999999999999', secret => $evil),
        'expired in 1970' => $t->token('admin', exp => 1),
        'exp as a string' => $t->token('admin', exp => '9999999999'),
        'nbf in the far future' => $t->token('admin', nbf => 2**40),
    );
    for my $name (sort keys %cases) {
        my $r = $reg->($cases{$name});
        refused_ok($r, 401, "$name: 401");
    }
    # a kid or jku on a token signed with the configured key is ignored:
    # keys come from nginx's configuration only, never from a token
    my $r = $reg->($t->token('admin', header => { kid => 'other',
        jku => 'http://127.0.0.1:1/jwks.json' }));
    is $r->{status}, 201, 'kid and jku on a well-signed token: ignored, 201';
    my $after = counts();
    my ($tb, $ta) = ((split /\|/, $before)[0], (split /\|/, $after)[0]);
    is $ta, $tb + 1, 'forged tokens: no ticket but the well-signed one';
}

# Other parameters and headers ------------------------------------------

{
    my $before = counts();
    my $urlenc = sub {
        request(POST => $_[0], token => $admin, body => $_[1], headers => {
            'Content-Type' => 'application/x-www-form-urlencoded',
            %{$_[2] // {}} });
    };
    refused_ok($urlenc->('/api/TicketsApi/register',
        join('&', map { "f$_=x" } 1 .. 10_000)), 400,
        '10,000 urlencoded fields: 400');
    refused_ok($urlenc->('/api/TicketsApi/register', 'Title=%zz&%=&=&&'),
        400, 'broken percent escapes: 400');
    refused_ok($urlenc->('/api/TicketsApi/register', 'Title=x',
        { 'Idempotency-Key' => "\xff\xfe" }), 400,
        'an Idempotency-Key that is not UTF-8: 400');
    my $r = request(GET => "/api/TicketsApi/$ticket", token => $admin,
        headers => { 'X-Request-Id' => '<script>alert(1)</script>' });
    is $r->{status}, 200, 'a hostile X-Request-Id: 200';
    unlike $r->{headers}{'x-request-id'} // '', qr/[<>()]/,
        'a hostile X-Request-Id is not echoed';
    for my $q ('search=' . ('s' x 201), 'sort=id;DROP%20TABLE%20tickets',
        'order=desc,%201', 'listType=AllTickets%27--', 'searchFields=Subject,'
        . 'x%27', 'pageSize=101', "listType=" . ('L' x 10_000))
    {
        refused_ok(request(GET => "/api/TicketsApi?$q", token => $admin), 400,
            'list ' . substr($q, 0, 40) . ': 400');
    }
    for my $ct ('multipart/form-data; boundary="unterminated',
        'multipart/form-data; boundary=', 'multipart/form-data',
        'multipart/form-data; boundary=a; boundary=b')
    {
        refused_ok(request(POST => '/api/TicketsApi/register', token => $admin,
            body => "--a\r\n\r\n--a--\r\n",
            headers => { 'Content-Type' => $ct }), 400, "Content-Type $ct: 400");
    }
    refused_ok(request(POST => '/api/TicketsApi/register', token => $admin,
        body => 'Title=x', headers => { 'Content-Type' => 'text/plain' }),
        415, 'text/plain: 415');
    $r = raw("POST /api/TicketsApi/register HTTP/1.1\r\nHost: x\r\n"
        . "Authorization: Bearer $admin\r\nContent-Length: 7\r\n"
        . "Transfer-Encoding: chunked\r\nContent-Type: "
        . "application/x-www-form-urlencoded\r\nConnection: close\r\n\r\n"
        . "7\r\nTitle=x\r\n0\r\n\r\n");
    ok $r->{status} == 400, "Content-Length with chunked: 400 ($r->{status})";
    my $b = 'noDisposition';
    refused_ok(multipart(base_fields($b) . "--$b\r\nContent-Type: text/plain"
        . "\r\n\r\nx\r\n--$b--\r\n", $b), 400,
        'a part without Content-Disposition: 400');
    # the close link, no JWT: a hostile token is a bad link, never echoed
    my $guid = $t->psql("SELECT guid FROM tickets WHERE id = $ticket");
    my $c = "/api/TicketsApi/confirm/$guid";
    for my $tok ('<script>x</script>', 'A' x 10_000, '%00', '%C0%AF') {
        my $shown = substr $tok, 0, 20;
        $r = request(GET => "$c?token=$tok");
        is $r->{status}, 400, "GET the close link, token '$shown': 400";
        unlike $r->{content}, qr/<script>x|AAAA/, 'the token is not echoed';
        $r = request(POST => $c, body => "token=$tok", headers => {
            'Content-Type' => 'application/x-www-form-urlencoded',
            Accept => 'application/json' });
        refused_ok($r, 400, "POST the close link, token '$shown', JSON: 400");
    }
    $r = request(POST => "$c?token=x", body => '', headers => {
        'Content-Type' => 'text/plain' });
    refused_ok($r, 415, 'POST the close link as text/plain: 415');
    nothing_stored($before, 'other parameters');
}

# Slow clients next to a normal load ---------------------------------------
#
# A child holds SLOW_HEADERS connections that send a request header one
# line at a time and SLOW_BODIES that send a body one byte at a time,
# reconnecting when nginx drops one, as a slowloris does.  The legitimate
# load is this process: GETs of a ticket and of a list page, each on a new
# connection.  Baseline and attack samples alternate in rounds, so that
# whatever else loads the machine falls on both alike.  The bound: the
# p99 under attack stays within 2x the baseline p99, or within FLOOR
# seconds of it, whichever is larger (on a shared 2-core machine a p99 of
# a few milliseconds moves by that much on its own).

use constant { SLOW_HEADERS => 200, SLOW_BODIES => 50, ROUNDS => 6,
    PER_ROUND => 50, FLOOR => 0.050 };

sub slow_socket {
    my ($kind) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port, Proto => 'tcp', Blocking => 0) or return;
    my $head = $kind eq 'header'
        ? "GET /api/TicketsApi/$ticket HTTP/1.1\r\nHost: x\r\n"
        : "POST /api/TicketsApi/register HTTP/1.1\r\nHost: x\r\n"
          . "Authorization: Bearer $admin\r\nContent-Type: "
          . "application/x-www-form-urlencoded\r\nContent-Length: 100000"
          . "\r\n\r\nTitle=";
    syswrite $s, $head;
    return $s;
}

# The attacker: writes "ready" to $w once its connections are open.
sub attack {
    my ($w) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my @s = ((map { ['header', slow_socket('header')] } 1 .. SLOW_HEADERS),
             (map { ['body', slow_socket('body')] } 1 .. SLOW_BODIES));
    syswrite $w, "ready\n";
    my $i = 0;
    while (1) {
        sleep 0.5;
        for my $c (@s) {
            my $ok = $c->[1] && syswrite $c->[1],
                $c->[0] eq 'header' ? 'X-S' . $i++ . ": a\r\n" : 'a';
            $c->[1] = slow_socket($c->[0]) unless $ok;
        }
    }
}

sub timed_get {
    my ($path) = @_;
    my $t0 = time;
    my $r = request(GET => $path, token => $admin);
    return (time - $t0, $r->{status});
}

sub p99 {
    my @v = sort { $a <=> $b } @_;
    return $v[int(0.99 * $#v)];
}

{
    my $before = counts();
    my (@base, @attack, %bad);
    my @paths = ("/api/TicketsApi/$ticket",
                 '/api/TicketsApi?listType=AllTickets&pageSize=10');

    # one connection of each kind, left idle to see the timeouts cut it
    my $idle_header = slow_socket('header');
    my $idle_body = slow_socket('body');
    my $t_idle = time;

    for my $round (1 .. ROUNDS) {
        for my $i (1 .. PER_ROUND) {
            my ($dt, $st) = timed_get($paths[$i % 2]);
            push @base, $dt;
            $bad{"baseline $st"}++ if $st != 200;
        }
        pipe my $rd, my $w or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            close $rd;
            eval { attack($w) };
            POSIX::_exit(0);
        }
        close $w;
        my $ready = <$rd>;
        sleep 0.2;
        for my $i (1 .. PER_ROUND) {
            my ($dt, $st) = timed_get($paths[$i % 2]);
            push @attack, $dt;
            $bad{"under attack $st"}++ if $st != 200;
        }
        kill 'KILL', $pid;
        waitpid $pid, 0;
        sleep 0.3;
    }

    ok !%bad, 'every legitimate request: 200'
        or diag join ', ', map { "$_: $bad{$_}" } sort keys %bad;
    my ($pb, $pa) = (p99(@base), p99(@attack));
    my $bound = 2 * $pb > $pb + FLOOR ? 2 * $pb : $pb + FLOOR;
    ok $pa <= $bound, sprintf('p99 under %d slow connections: %.1f ms, '
        . 'baseline %.1f ms, bound %.1f ms', SLOW_HEADERS + SLOW_BODIES,
        $pa * 1000, $pb * 1000, $bound * 1000);

    # client_header_timeout counts from the first byte of the header and
    # client_body_timeout between two reads: both cut an idle client
    my $wait = $t_idle + 10 + 3 - time;
    sleep $wait if $wait > 0;
    for ([$idle_header, 'a header', 'client_header_timeout'],
         [$idle_body, 'a body', 'client_body_timeout'])
    {
        my ($s, $what, $directive) = @$_;
        my $sel = IO::Select->new($s);
        my $got = '';
        my $closed = 0;
        my $deadline = time + 10;
        while (time < $deadline && $sel->can_read($deadline - time)) {
            my $n = sysread $s, my $buf, 4096;
            if (!$n) { $closed = 1; last }
            $got .= $buf;
        }
        ok $closed, "an idle client sending $what: closed by $directive";
        my ($st) = $got =~ /^HTTP\/1\.1 (\d+)/;
        ok !defined $st || $st < 500, "$what cut: no 5xx ("
            . ($st // 'no answer') . ')';
    }
    nothing_stored($before, 'slow clients');
}

# RS256: HS256 signed with the public key (the classic confusion)
SKIP: {
    my ($rc) = Tickets::Test::run_cmd(['openssl', 'version']);
    skip 'no openssl command', 3 if $rc;
    my $dir = $t->dir;
    Tickets::Test::run_cmd(['openssl', qw(genpkey -algorithm RSA -pkeyopt
        rsa_keygen_bits:2048 -out), "$dir/rsa.pem"]);
    Tickets::Test::run_cmd(['openssl', 'pkey', '-in', "$dir/rsa.pem",
        '-pubout', '-out', "$dir/rsa.pub"]);
    $t->run(tickets_conf => "    tickets_jwt_key RS256 $dir/rsa.pub;\n",
        http_extra => $Tickets::Test::RECOMMENDED_LIMITS, max_body => '2m');
    my $before = counts();
    my $pub = Tickets::Test::_slurp("$dir/rsa.pub");
    for my $alg (qw(HS256 HS384 HS512)) {
        my $r = $t->form_post('/api/TicketsApi/register', \@BASE,
            token => $t->token('admin', header => { alg => $alg },
                secret => $pub));
        refused_ok($r, 401, "RS256 service, $alg signed with the public key:"
            . ' 401');
    }
    nothing_stored($before, 'algorithm confusion');
}

unlike $t->error_log, qr/\[(?:alert|crit|emerg)\]/,
    'nginx logged no alert, crit or emerg';

done_testing;
