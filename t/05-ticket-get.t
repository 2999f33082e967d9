#!/usr/bin/perl

# GET /api/TicketsApi/{id}: the TicketApiModel, ETag, 404s, and what a
# Member may read (SPEC 2 object-level rules, 3.2).

use strict;
use warnings;
use utf8;

use Test::More;
use Tickets::Test;

my $t = Tickets::Test->new->run;
my $admin = $t->token('admin');
my $tech1 = $t->token('tech1');
my $member1 = $t->token('member1');
my $member2 = $t->token('member2');

sub get {
    my ($id, $token) = @_;
    return $t->http(GET => "/api/TicketsApi/$id", token => $token // $admin);
}

# Demo tickets: 1 open (member2's, assigned, tagged), 4 unassigned, 7 with
# Cc, 11 escalated, 14 closed and locked with resolution and closure
# (member1's), 13 resolved, 36 deleted (member1's).
for my $id (1, 4, 7, 11, 13, 14) {
    my $r = get($id);
    is $r->{status}, 200, "ticket $id: 200";
    like $r->{headers}{'content-type'}, qr{^application/json;\s*charset=utf-8$}i,
        "ticket $id: application/json; charset=utf-8";
    $t->ticket_ok($r->{json}, $id, "ticket $id matches the database");
}

# Spot checks against the demo data, independent of the comparison above.
my $r = get(14);
my $j = $r->{json};
is $j->{creator}{userName}, 'member1', '14: requester member1';
is $j->{assignee}{fullName}, 'Nick Network', '14: assignee tech3';
is $j->{status}{statusType}, 'Closed', '14: closed';
ok $j->{isLocked}, '14: locked, closed 10 days ago with 7 days to lock';
is $j->{closure}{comments}, 'Confirmed by the requester.', '14: closure';
is $j->{resolution}{resolution}, 'Replaced the faulty part.', '14: resolution';
is $j->{cc}, 'boss@example.com', '14: cc';
is_deeply $j->{attachments}, [], '14: no attachments';
$j = get(1)->{json};
is $j->{assignee}{userName}, 'tech2', '1: assignee tech2';
ok !$j->{isLocked}, '1: not locked';
is $j->{resolution}, undef, '1: no resolution';
is $j->{closure}, undef, '1: no closure';
is get(4)->{json}{assignee}, undef, '4: no assignee, null';
like get(1)->{json}{createdOn} // '',
    qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'dates: ISO 8601 UTC, Z';

# ETag: strong, stable, and it follows the version.
my $etag = get(2)->{headers}{etag};
like $etag // '', qr/^"[^"]+"$/, 'a strong ETag';
is get(2)->{headers}{etag}, $etag, 'the same ETag twice';
isnt get(3)->{headers}{etag}, $etag, 'another ticket, another ETag';
$t->psql('UPDATE tickets SET version = version + 1 WHERE id = 2');
isnt get(2)->{headers}{etag}, $etag, 'a new version, a new ETag';

# Not found: unknown, deleted, and anything but a positive integer.
for my $id (qw(999 36 9223372036854775807 9223372036854775808
               99999999999999999999 0 -1 1.5 1abc abc +1 0x1 1e3))
{
    $t->problem_ok(get($id), 404, "GET /api/TicketsApi/$id: 404");
}
$t->problem_ok(get(36, $tech1), 404, 'deleted, technician: 404');
$t->problem_ok(get(36, $member1), 404, 'deleted, its requester: 404');

# Staff read every ticket; a Member only their own, others are 404.
is get(1, $tech1)->{status}, 200, 'technician reads a ticket not theirs';
is get(14, $member1)->{status}, 200, 'member1 reads their ticket 14';
is get(2, $member1)->{status}, 200, 'member1 reads their ticket 2';
$t->problem_ok(get(1, $member1), 404, 'member1 reads member2\'s ticket: 404');
$t->problem_ok(get(3, $member1), 404,
    'member1 reads tech1\'s ticket: 404');
is get(1, $member2)->{status}, 200, 'member2 reads their ticket 1';
$t->problem_ok(get(14, $member2), 404, 'member2 reads ticket 14: 404');
{
    my $other = get(1, $member1);
    my $none = get(999, $member1);
    (my $d1 = $other->{json}{detail} // '') =~ s/\b1\b/N/g;
    (my $d2 = $none->{json}{detail} // '') =~ s/\b999\b/N/g;
    is_deeply [$other->{json}{title}, $d1], [$none->{json}{title}, $d2],
        'another\'s ticket looks like no ticket';
}

# Without a token.
$r = $t->http(GET => '/api/TicketsApi/1');
$t->problem_ok($r, 401, 'no token: 401');

done_testing;
