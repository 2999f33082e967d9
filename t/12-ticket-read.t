#!/usr/bin/perl

# GET /api/TicketsApi/{id} in one round trip (docs/performance.md):
# If-None-Match with the current ETag is 304 with no body; the principal
# is still checked on every request, so a user deactivated between two
# requests is refused at once; the Member rule holds on both paths.

use strict;
use warnings;

use Test::More;
use Tickets::Test;

my $t = Tickets::Test->new->run;
my $admin = $t->token('admin');
my $member1 = $t->token('member1');
my $member2 = $t->token('member2');

sub get {
    my ($id, $token, $inm) = @_;
    return $t->http(GET => "/api/TicketsApi/$id", token => $token // $admin,
        headers => { defined $inm ? ('If-None-Match' => $inm) : () });
}

my $r = get(2);
is $r->{status}, 200, 'ticket 2: 200';
my $etag = $r->{headers}{etag};
like $etag // '', qr/^"2-\d+"$/, 'its ETag';

for my $inm ($etag, "W/$etag", '*', qq{"1-1", $etag}, qq{W/"x",W/$etag}) {
    $r = get(2, $admin, $inm);
    is $r->{status}, 304, "If-None-Match: $inm -> 304";
    is $r->{content} // '', '', '  no body';
    is $r->{headers}{etag}, $etag, '  the ETag';
    ok !defined $r->{headers}{'content-length'}
        || $r->{headers}{'content-length'} eq '0', '  no length of a body';
    like $r->{headers}{'x-request-id'} // '', qr/\S/, '  X-Request-Id';
}

for my $inm ('"2-0"', '"3-1"', 'garbage', '', substr($etag, 1, -1)) {
    $r = get(2, $admin, $inm);
    is $r->{status}, 200, "If-None-Match: '$inm' -> 200";
    $t->ticket_ok($r->{json}, 2, '  the ticket');
}

# a change: the old ETag names an old version
$t->psql('UPDATE tickets SET version = version + 1 WHERE id = 2');
$r = get(2, $admin, $etag);
is $r->{status}, 200, 'after a change the old ETag -> 200';
isnt $r->{headers}{etag}, $etag, '  with the new ETag';
$t->ticket_ok($r->{json}, 2, '  the ticket as it is now');
is get(2, $admin, $r->{headers}{etag})->{status}, 304, 'the new ETag -> 304';

# the Member rule and 404s come before any revalidation
is get(1, $member1, '*')->{status}, 404, "another's ticket, If-None-Match: * -> 404";
my $own = get(1, $member2);
is $own->{status}, 200, "member2's own ticket";
is get(1, $member2, $own->{headers}{etag})->{status}, 304, '  revalidated: 304';
is get(36, $admin, '*')->{status}, 404, 'a deleted ticket, *: 404';
is get(999999, $admin, '*')->{status}, 404, 'no such ticket, *: 404';
is $t->http(GET => '/api/TicketsApi/2',
    headers => { 'If-None-Match' => '*' })->{status}, 401, 'no token, *: 401';

# deactivated between two requests: refused at once, on both paths
$t->psql(q{INSERT INTO users (id, user_name, full_name, role)
           VALUES ('t12-reader', 't12reader', 'Reader 12', 'Technician')});
my $reader = $t->token('t12reader');
$r = get(2, $reader);
is $r->{status}, 200, 'an active technician reads ticket 2';
$t->psql(q{UPDATE users SET is_active = false WHERE id = 't12-reader'});
is get(2, $reader)->{status}, 401, 'deactivated: 401 at the next request';
is get(2, $reader, $r->{headers}{etag})->{status}, 401,
    '  and with If-None-Match';
$t->psql(q{UPDATE users SET is_active = true, role = 'Member'
           WHERE id = 't12-reader'});
is get(2, $reader, '*')->{status}, 404,
    'made a Member: the Member rule at the next request';
$t->psql(q{UPDATE users SET role = 'Technician' WHERE id = 't12-reader'});
is get(2, $reader, '*')->{status}, 304, 'a technician again: 304';

# a lookup renamed between two requests on the same pool connection
my $status = $t->psql('SELECT status_id FROM tickets WHERE id = 2');
my $name = $t->psql("SELECT name FROM statuses WHERE id = $status");
$t->psql(qq{UPDATE statuses SET name = 'Renamed "S"' WHERE id = $status});
$r = get(2);
is $r->{json}{status}{status}, 'Renamed "S"', 'a renamed status at once';
$t->psql("UPDATE statuses SET name = " . Tickets::Test::quote($name)
         . " WHERE id = $status");
is get(2)->{json}{status}{status}, $name, '  and back';

done_testing;
