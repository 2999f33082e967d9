#!/usr/bin/perl

# GET /api/TicketsApi/metadata/{id?} and /appmetadata: exactly the seed's
# keys and shapes (seed 13, 14; SPEC 3 "13-17").

use strict;
use warnings;
use utf8;

use Test::More;
use Tickets::Test;

my $t = Tickets::Test->new->run;
my $admin = $t->token('admin');
my $member1 = $t->token('member1');

my %SQL = (
    groups      => 'SELECT id, name AS "group" FROM groups',
    levels      => 'SELECT id, title FROM tier_levels',
    priorities  => 'SELECT id, name AS priority FROM priorities',
    categories  => 'SELECT id, name FROM categories',
    status      => 'SELECT id, name AS status, status_type AS "statusType"'
                   . ' FROM statuses',
    clients     => 'SELECT id, name FROM clients',
    sites       => 'SELECT id, title FROM sites',
    departments => 'SELECT id, title FROM departments',
);
my @APP_KEYS = sort keys %SQL;
my @META_KEYS = sort @APP_KEYS, qw(sub_categories items technicians);

sub get {
    my ($path, $token) = @_;
    return $t->http(GET => $path, token => $token // $admin);
}

# Lists compared in id order: the order of the answer is not specified.
sub list_is {
    my ($got, $sql, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return fail("$name: an array") unless ref $got eq 'ARRAY';
    my $by_id = sub { $a->{id} =~ /^\d+$/ && $b->{id} =~ /^\d+$/
        ? $a->{id} <=> $b->{id} : $a->{id} cmp $b->{id} };
    is_deeply [sort $by_id grep { ref $_ eq 'HASH' } @$got],
        [sort $by_id $t->rows($sql)], $name;
}

sub user_names { [sort map { $_->{userName} // '?' } @{$_[0] // []}] }

# Whether an Admin counts as a technician is not specified: staff may be
# listed; Technicians must be, and nobody else.
sub without_admins {
    my ($list) = @_;
    return $list unless ref $list eq 'ARRAY';
    my %admin = map { $_ => 1 }
        $t->psql("SELECT id FROM users WHERE role = 'Admin'");
    return [grep { !(ref $_ eq 'HASH' && $admin{$_->{id} // ''}) } @$list];
}

my $TECHS = 'SELECT id, full_name AS "fullName", user_name AS "userName"'
    . " FROM users WHERE role = 'Technician' AND is_active";

# appmetadata
my $r = get('/api/TicketsApi/appmetadata');
is $r->{status}, 200, 'appmetadata: 200';
like $r->{headers}{'content-type'}, qr{^application/json\b}i, 'JSON';
is_deeply [sort keys %{$r->{json} // {}}], \@APP_KEYS,
    'appmetadata: exactly the seed\'s keys';
list_is($r->{json}{$_}, $SQL{$_}, "appmetadata: $_") for @APP_KEYS;

# metadata without an id: everything, requesters included.
$r = get('/api/TicketsApi/metadata');
is $r->{status}, 200, 'metadata: 200';
is_deeply [sort keys %{$r->{json} // {}}], [sort @META_KEYS, 'requesters'],
    'metadata: exactly the seed\'s keys';
my $m = $r->{json};
list_is($m->{$_}, $SQL{$_}, "metadata: $_") for @APP_KEYS;
list_is($m->{sub_categories}, 'SELECT id, name FROM subcategories',
    'metadata: every sub_category');
list_is($m->{items}, 'SELECT id, name FROM items', 'metadata: every item');
list_is(without_admins($m->{technicians}), $TECHS,
    'metadata: every active technician');
is_deeply [map { [sort keys %$_] } @{$m->{requesters} // []}],
    [map { [qw(fullName id userName)] } @{$m->{requesters} // []}],
    'requesters are {id, fullName, userName}';
my %reqs = map { $_ => 1 } @{user_names($m->{requesters})};
ok $reqs{member1} && $reqs{member2}, 'metadata: the Members are requesters';

is get('/api/TicketsApi/metadata/')->{status}, 200,
    'metadata/ (no id): 200';

# metadata/{id}: scoped to the ticket, no requesters.
for my $id (1, 2, 3) {
    $r = get("/api/TicketsApi/metadata/$id");
    is $r->{status}, 200, "metadata/$id: 200";
    is_deeply [sort keys %{$r->{json} // {}}], \@META_KEYS,
        "metadata/$id: the seed's keys, no requesters";
    $m = $r->{json};
    list_is($m->{$_}, $SQL{$_}, "metadata/$id: $_") for @APP_KEYS;
    list_is($m->{sub_categories}, 'SELECT s.id, s.name FROM subcategories s'
        . " JOIN tickets t ON t.category_id = s.category_id WHERE t.id = $id",
        "metadata/$id: sub_categories of the ticket's category");
    list_is($m->{items}, 'SELECT i.id, i.name FROM items i JOIN tickets t'
        . " ON t.subcategory_id = i.subcategory_id WHERE t.id = $id",
        "metadata/$id: items of the ticket's subcategory");
    list_is($m->{technicians}, "$TECHS AND id IN (SELECT user_id FROM"
        . ' group_members gm JOIN tickets t ON t.group_id = gm.group_id'
        . " WHERE t.id = $id)", "metadata/$id: the group's technicians");
}
$m = get('/api/TicketsApi/metadata/1')->{json};
is_deeply [sort map { $_->{name} } @{$m->{sub_categories} // []}],
    [qw(Laptop Printer)], 'metadata/1: Hardware\'s sub_categories';
is_deeply [map { $_->{name} } @{$m->{items} // []}], ['HP LaserJet'],
    'metadata/1: Printer\'s items';
is_deeply user_names($m->{technicians}), [qw(tech1 tech2)],
    'metadata/1: Service Desk technicians';
is_deeply user_names(get('/api/TicketsApi/metadata/2')->{json}{technicians}),
    ['tech3'], 'metadata/2: Network technicians';

# A ticket without a group: every active technician.
$t->psql('UPDATE tickets SET group_id = NULL WHERE id = 3');
$r = get('/api/TicketsApi/metadata/3');
list_is(without_admins($r->{json}{technicians}), $TECHS,
    'metadata/3 without a group: every active technician');

# Unknown, deleted, not an id; a Member and another's ticket.
$t->problem_ok(get("/api/TicketsApi/metadata/$_"), 404, "metadata/$_: 404")
    for qw(999 36 abc 0 -1 1.5);
is get('/api/TicketsApi/metadata/2', $member1)->{status}, 200,
    'member1, metadata of their ticket: 200';
$t->problem_ok(get('/api/TicketsApi/metadata/1', $member1), 404,
    'member1, metadata of another\'s ticket: 404');
is get('/api/TicketsApi/appmetadata', $member1)->{status}, 200,
    'member1, appmetadata: 200';
$t->problem_ok($t->http(GET => '/api/TicketsApi/metadata'), 401,
    'metadata without a token: 401');
$t->problem_ok($t->http(GET => '/api/TicketsApi/appmetadata'), 401,
    'appmetadata without a token: 401');

# An inactive technician is not offered.
$t->psql("UPDATE users SET is_active = false WHERE user_name = 'tech3'");
my $names = user_names(get('/api/TicketsApi/metadata')->{json}{technicians});
ok !grep({ $_ eq 'tech3' } @$names), 'an inactive technician is not listed';

done_testing;
