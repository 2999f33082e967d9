#!/usr/bin/perl

# POST /api/TicketsApi/register with urlencoded forms: the created ticket,
# each validation error, enums, field names, permissions, Idempotency-Key,
# 415 and 413 (seed 3, SPEC 1-3.3).

use strict;
use warnings;
use utf8;

use Test::More;
use Tickets::Test;

my $t = Tickets::Test->new->run;
my $admin = $t->token('admin');
my $member1_id = $t->user_id('member1');
my $REGISTER = '/api/TicketsApi/register';

my @BASE = (Title => 'Monitor flickers', Description => 'Since Monday.',
    CreatorId => $member1_id, SiteId => 1, DepartmentId => 1,
    TicketStatusId => 1, TicketType => 'Incident');

# The base form with fields replaced (undef removes one) or added.
sub form {
    my (%o) = @_;
    my @f;
    for (my $i = 0; $i < @BASE; $i += 2) {
        my $k = $BASE[$i];
        next if exists $o{$k} && !defined $o{$k};
        push @f, $k, exists $o{$k} ? delete $o{$k} : $BASE[$i + 1];
    }
    push @f, map { $_ => $o{$_} } grep { defined $o{$_} } sort keys %o;
    return \@f;
}

sub register {
    my ($fields, %o) = @_;
    return $t->form_post($REGISTER, $fields, token => $admin, %o);
}

sub count { scalar $t->psql('SELECT count(*) FROM tickets') }

# 201, Location, a TicketApiModel that GET returns as well.
sub created_ok {
    my ($r, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is $r->{status}, 201, "$name: 201" or diag substr $r->{content}, 0, 800;
    my $id = $r->{json}{id} // 0;
    like $r->{headers}{location} // '', qr{/api/TicketsApi/$id$}i,
        "$name: Location of ticket $id";
    $t->ticket_ok($r->{json}, $id, "$name: the body matches the database");
    my $g = $t->http(GET => "/api/TicketsApi/$id", token => $admin);
    $t->model_is($g->{json}, $r->{json}, "$name: GET returns the same model");
    return $r->{json} // {};
}

# A field error: 400 problem, errors names exactly the fields.
sub invalid {
    my ($fields, $errors, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = register($fields);
    $t->problem_ok($r, 400, "$name: 400 problem");
    my $e = $r->{json}{errors};
    is_deeply [sort keys %{ref $e eq 'HASH' ? $e : {}}], [sort @$errors],
        "$name: errors names @$errors";
    ok !grep({ ref $e->{$_} ne 'ARRAY' || !@{$e->{$_}}
               || grep { !defined || ref || !length } @{$e->{$_}} }
             keys %{ref $e eq 'HASH' ? $e : {}}),
        "$name: each error is a list of messages";
}

# The simplest ticket.
my $before = count();
my $r = register(form());
my $j = created_ok($r, 'register');
is count(), $before + 1, 'one ticket more';
is $j->{title}, 'Monitor flickers', 'title';
is $j->{description}, 'Since Monday.', 'description';
is $j->{creator}{id}, $member1_id, 'creator is CreatorId';
is $j->{createdBy}{userName}, 'admin', 'createdBy is the authenticated user';
ok $j->{ticketType} eq 'Incident' || $j->{ticketType} eq '2', 'Incident';
ok $j->{source} eq 'Manual' || $j->{source} eq '0', 'source Manual';
is $j->{site}{id}, 1, 'site';
is $j->{department}{id}, 1, 'department';
is $j->{status}{id}, 1, 'status';
like $j->{guid} // '', qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
    'a guid is generated';
is_deeply $j->{attachments}, [], 'no attachments';

# Every optional field.
$r = register(form(Cc => 'boss@example.com', Guid =>
    '3f2504e0-4f89-41d3-9a0c-0305e82c3301', TicketCategoryId => 2,
    TicketSubCategoryId => 4, ItemId => 5, TierLevelId => 2, GroupId => 2,
    ClientId => 1, TicketPriorityId => 3, ServiceId => 2, ImpactId => 3,
    UrgencyId => 1, AssignedUser => $t->user_id('tech3')));
$j = created_ok($r, 'every optional field');
is $j->{guid}, '3f2504e0-4f89-41d3-9a0c-0305e82c3301', 'Guid kept';
is $j->{cc}, 'boss@example.com', 'Cc';
is_deeply [map { $j->{$_}{id} } qw(category subCategory item tierLevel group
    client priority service impact urgency)], [2, 4, 5, 2, 2, 1, 3, 2, 3, 1],
    'every lookup id';
is $j->{assignee}{userName}, 'tech3', 'AssignedUser';
{
    my @ids = ('SelectedTags', 1, 'SelectedTags', 3);
    $r = register([@{form()}, @ids]);
    $j = created_ok($r, 'SelectedTags twice');
    is scalar @{$j->{tags} // []}, 2, 'two tags';
}

# urlencoded decoding, UTF-8, line breaks.
$r = register(form(Title => 'Café + crème & 100% "quoted"',
    Description => "line 1\r\nline 2\n\ttabbed"));
$j = created_ok($r, 'UTF-8 and reserved characters');
is $j->{title}, 'Café + crème & 100% "quoted"', 'title decoded exactly';
is $j->{description}, "line 1\r\nline 2\n\ttabbed", 'description exactly';

# Title length is in characters: 255 fits, 256 does not.
created_ok(register(form(Title => 'x' x 255)), 'Title of 255 characters');
created_ok(register(form(Title => 'é' x 255)), 'Title of 255 "é" (510 bytes)');

# Enums by name in any case, and by number; field names in any case;
# unknown fields ignored.
for my $case (['incident', 2, 'Incident'], ['SERVICEREQUEST', 3, 'ServiceRequest'],
              ['problem', 1, 'Problem'], ['0', 0, 'Ticket'], ['4', 4, 'Change'])
{
    $r = register(form(TicketType => $case->[0]));
    is $r->{status}, 201, "TicketType '$case->[0]': 201";
    my $tt = $r->{json}{ticketType} // '';
    ok $tt eq $case->[2] || $tt eq $case->[1], "TicketType '$case->[0]': "
        . "$case->[2]" or diag "got $tt";
}
$r = register([title => 'lower case', DESCRIPTION => 'upper case',
    creatorid => $member1_id, siteId => 2, DEPARTMENTID => 2,
    ticketstatusid => 3, tickettype => 'change', Unknown => 'ignored',
    Id => 12345, CreatedBy => $t->user_id('tech1')]);
$j = created_ok($r, 'field names in any case, unknown fields');
is_deeply [$j->{title}, $j->{site}{id}, $j->{department}{id},
    $j->{status}{id}], ['lower case', 2, 2, 3], 'every field was read';
isnt $j->{id}, 12345, 'Id is not a register field';
is $j->{createdBy}{userName}, 'admin', 'CreatedBy is not a form field';

# Validation: one error per offending field, nothing created.
$before = count();
invalid(form(Title => undef), ['Title'], 'Title missing');
invalid(form(Title => ''), ['Title'], 'Title empty');
invalid(form(Title => 'x' x 256), ['Title'], 'Title of 256 characters');
invalid(form(Title => 'é' x 256), ['Title'], 'Title of 256 "é"');
invalid(form(Description => undef), ['Description'], 'Description missing');
invalid(form(CreatorId => undef), ['CreatorId'], 'CreatorId missing');
invalid(form(CreatorId => 'no-such-user'), ['CreatorId'], 'CreatorId unknown');
for my $f (qw(SiteId DepartmentId TicketStatusId)) {
    invalid(form($f => undef), [$f], "$f missing");
    invalid(form($f => $_), [$f], "$f '$_'")
        for '', '12abc', '1.5', 'abc', ' ', '99999999999999999999', '0x1',
            '999', '-1';
}
invalid(form(TicketType => $_), ['TicketType'], "TicketType '$_'")
    for 'Bogus', '5', '-1', '1.0', 'Incident2', '';
invalid(form(DueDate => $_), ['DueDate'], "DueDate '$_'")
    for 'tomorrow', '2026-13-45T00:00:00Z', '2026-02-30T10:00:00Z', '12';
for my $f (qw(TicketCategoryId TierLevelId GroupId ClientId TicketPriorityId
              ServiceId ImpactId UrgencyId SLAId))
{
    invalid(form($f => '999'), [$f], "$f unknown");
    invalid(form($f => '1x'), [$f], "$f not an integer");
}
invalid(form(TicketCategoryId => 1, TicketSubCategoryId => 3),
    ['TicketSubCategoryId'], 'a subcategory of another category');
invalid(form(TicketCategoryId => 1, TicketSubCategoryId => 1, ItemId => 4),
    ['ItemId'], 'an item of another subcategory');
invalid(form(AssignedUser => 'no-such-user'), ['AssignedUser'],
    'AssignedUser unknown');
invalid(form(SelectedTags => 99), ['SelectedTags'], 'a tag unknown');
invalid(form(Guid => 'not-a-guid'), ['Guid'], 'Guid malformed');
invalid(form(Title => undef, SiteId => 'x', TicketType => 'Bogus'),
    [qw(Title SiteId TicketType)], 'three errors at once');
$r = register(form(Title => "bad \xff utf-8"));
$t->problem_ok($r, 400, 'invalid UTF-8: 400');
is count(), $before, 'no ticket was created by an invalid form';

# Permissions: without Tickets.Create the answer is 400 "Permission
# denied" (compat); a Member may only register for themself.
for my $case (['integration', {}], ['member1', { permissions => [] }],
              ['admin', { permissions => ['Tickets.Update'] }])
{
    my ($user, $claims) = @$case;
    $r = $t->form_post($REGISTER, form(),
        token => $t->token($user, %$claims));
    $t->problem_ok($r, 400, "$user without Tickets.Create: 400");
    is $r->{json}{detail}, 'Permission denied',
        "$user without Tickets.Create: Permission denied";
}
my $member1 = $t->token('member1');
$r = $t->form_post($REGISTER, form(CreatorId => $t->user_id('member2')),
    token => $member1);
$t->problem_ok($r, 403, 'a Member naming another requester: 403');
$r = $t->form_post($REGISTER, form(), token => $member1);
$j = created_ok($r, 'a Member for themself');
is $j->{createdBy}{userName}, 'member1', 'createdBy member1';
is $t->http(GET => "/api/TicketsApi/$j->{id}", token => $member1)->{status},
    200, 'the Member reads the new ticket';
is count(), $before + 1, 'only the allowed one was created';
$t->problem_ok($t->form_post($REGISTER, form()), 401, 'no token: 401');

# Content types.
$r = register(form(), headers => { 'Content-Type' =>
    'application/x-www-form-urlencoded; charset=UTF-8' });
is $r->{status}, 201, 'urlencoded with a charset: 201';
for my $ct ('application/json', 'text/plain', 'application/xml') {
    $r = $t->http(POST => $REGISTER, token => $admin,
        headers => { 'Content-Type' => $ct }, body => '{"Title":"x"}');
    $t->problem_ok($r, 415, "$ct: 415");
}
$r = $t->http(POST => $REGISTER, token => $admin, body => 'Title=x');
$t->problem_ok($r, 415, 'no Content-Type: 415');

# A NUL byte would cut a title short: 400, nothing created.
$before = count();
$r = $t->http(POST => $REGISTER, token => $admin,
    headers => { 'Content-Type' => 'application/x-www-form-urlencoded' },
    body => 'Title=ab%00cd&Description=x');
$t->problem_ok($r, 400, 'a NUL byte in a field: 400');
like $r->{json}{detail}, qr/NUL/, 'the detail says why';
is count(), $before, 'a NUL byte: nothing created';

# Bodies beyond client_max_body_size (1m): 413, nothing created.
$before = count();
my $big = join '&', map { "$_=" . ('y' x 600_000) } qw(Title Description);
$r = $t->http(POST => $REGISTER, token => $admin, body => $big,
    headers => { 'Content-Type' => 'application/x-www-form-urlencoded' });
$t->problem_ok($r, 413, 'a body of 1.2 MB: 413 problem');
my @chunks = ('Title=x&Description=', ('z' x 100_000) x 12);
$r = $t->http(POST => $REGISTER, token => $admin, body => sub { shift @chunks },
    headers => { 'Content-Type' => 'application/x-www-form-urlencoded' });
$t->problem_ok($r, 413, 'a chunked body of 1.2 MB: 413 problem');
is count(), $before, 'nothing created by a body too large';

# Idempotency-Key: the first answer again, once per principal and key.
$before = count();
my %key = (headers => { 'Idempotency-Key' => 'key-0001' });
my $first = register(form(Title => 'Idempotent'), %key);
is $first->{status}, 201, 'Idempotency-Key, first: 201';
my $again = register(form(Title => 'Idempotent'), %key);
is $again->{status}, 201, 'the same key again: 201';
is_deeply $again->{json}, $first->{json}, 'the same key again: the same body';
is $again->{headers}{location}, $first->{headers}{location},
    'the same key again: the same Location';
is count(), $before + 1, 'the same key twice: one ticket';
$r = register(form(Title => 'Something else'), %key);
$t->problem_ok($r, 400, 'the same key, another body: 400');
$r = $t->form_post($REGISTER, form(Title => 'Idempotent'), %key,
    token => $t->token('tech1'));
is $r->{status}, 201, 'the same key, another principal: 201';
isnt $r->{json}{id}, $first->{json}{id}, 'another principal: a new ticket';
is count(), $before + 2, 'two tickets in all';

# SLA: a policy overrides a manual DueDate; without one the date stands,
# given with any offset and answered in UTC.
$r = register(form(TicketPriorityId => 4, DueDate => '2030-01-15T10:00:00Z'));
$j = created_ok($r, 'Urgent priority');
is $j->{sla}{id}, 4, 'the Urgent SLA policy is chosen';
my $created = Tickets::Test::iso_epoch($j->{createdOn}) // 0;
ok abs((Tickets::Test::iso_epoch($j->{dueDate}) // 0) - $created - 240 * 60)
    < 2, 'dueDate = createdOn + 240 minutes, the manual one overridden';
ok abs((Tickets::Test::iso_epoch($j->{responseDueDate}) // 0) - $created
    - 15 * 60) < 2, 'responseDueDate = createdOn + 15 minutes';
$t->psql('UPDATE sla_policies SET is_active = false');
$r = register(form(DueDate => '2030-01-15T10:00:00+02:00'));
$j = created_ok($r, 'no SLA policy applies');
is $j->{sla}, undef, 'no SLA';
is $j->{dueDate}, '2030-01-15T08:00:00Z', 'the manual DueDate, in UTC';

done_testing;
