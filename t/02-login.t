#!/usr/bin/perl

# POST /api/auth/token: password login, the issued token, bad credentials
# and throttling (SPEC 2).

use strict;
use warnings;
use utf8;

use Test::More;
use Time::HiRes qw(time sleep);
use Tickets::Test;

my $t = Tickets::Test->new(issuer => 'ngx_tickets',
    audience => 'ngx_tickets_api');
# a short lockout, so that its end can be seen
$t->ctl_ok(qw(setting set login_lockout_seconds 2));
$t->run;

sub login {
    my ($user, $password, %o) = @_;
    return $t->form_post('/api/auth/token',
        [username => $user, password => $password], %o);
}

# The token of a good login.
my $r = login('admin', 'demo');
is $r->{status}, 200, 'admin/demo: 200';
like $r->{headers}{'content-type'}, qr{^application/json\b}i, 'JSON';
is_deeply [sort keys %{$r->{json} // {}}],
    [qw(access_token expires_in token_type)], 'exactly the three keys';
is $r->{json}{token_type}, 'Bearer', 'token_type Bearer';
is $r->{json}{expires_in}, 3600, 'expires_in: tickets_token_lifetime 1h';

my $jwt = $r->{json}{access_token} // '';
is(($t->jwt_header($jwt) // {})->{alg}, 'HS256', 'header alg HS256');
my $c = $t->claims($jwt) // {};
is $c->{sub}, $t->user_id('admin'), 'sub is the user id';
is $c->{role}, 'Admin', 'role Admin';
is_deeply [sort @{$c->{permissions} // []}],
    [sort map "Tickets.$_", qw(Create Update Forward Reply Close Resolve
    Delete)], 'every permission of Admin';
is $c->{iss}, 'ngx_tickets', 'iss as configured';
is ref $c->{aud} ? join(',', @{$c->{aud}}) : $c->{aud}, 'ngx_tickets_api',
    'aud as configured';
is(($c->{exp} // 0) - ($c->{iat} // 0), 3600, 'exp = iat + lifetime');
ok abs(($c->{iat} // 0) - time) < 60, 'iat is now';

$r = $t->http(GET => '/api/TicketsApi/1', token => $jwt);
is $r->{status}, 200, 'the issued token is accepted';

# User names are case-insensitive; multipart and field case work as well.
$r = login('ADMIN', 'demo');
is $r->{status}, 200, 'ADMIN/demo: 200';
$r = $t->multipart_post('/api/auth/token',
    [UserName => 'member1', Password => 'demo']);
is $r->{status}, 200, 'multipart, UserName/Password: 200';
$c = $t->claims($r->{json}{access_token}) // {};
is $c->{role}, 'Member', 'member1: role Member';
is_deeply $c->{permissions}, ['Tickets.Create'], 'member1: Tickets.Create';

$r = login('integration', 'demo');
is $r->{status}, 200, 'integration/demo: 200';
$c = $t->claims($r->{json}{access_token}) // {};
is_deeply $c->{permissions}, ['Tickets.Inbound'],
    'integration: Tickets.Inbound only (inbound mail, docs/email.md)';

# Bad credentials: the same answer for an unknown user and a bad password,
# and a similar time (both pay for a password hash).
my ($t_unknown, $t_wrong) = (0, 0);
my ($unknown, $wrong);
for (1 .. 2) {
    my $t0 = time;
    $unknown = login('ghost', 'demo');
    $t_unknown += time - $t0;
    $t0 = time;
    $wrong = login('tech1', 'not-demo');
    $t_wrong += time - $t0;
}
$t->problem_ok($unknown, 401, 'unknown user: 401');
$t->problem_ok($wrong, 401, 'wrong password: 401');
my %same = map { $_ => 1 } qw(type title status detail errors);
is_deeply { map { $_ => $unknown->{json}{$_} } grep $same{$_},
                keys %{$unknown->{json} // {}} },
          { map { $_ => $wrong->{json}{$_} } grep $same{$_},
                keys %{$wrong->{json} // {}} },
    'unknown user and wrong password: the same body';
ok $t_unknown > $t_wrong / 4,
    sprintf 'similar time: unknown %.3fs, wrong password %.3fs',
        $t_unknown, $t_wrong;

$r = login('tech1', '');
$t->problem_ok($r, $r->{status} == 400 ? 400 : 401,
    'empty password: 400 or 401');
$r = $t->form_post('/api/auth/token', [username => 'tech1']);
$t->problem_ok($r, $r->{status} == 400 ? 400 : 401,
    'no password: 400 or 401');

$t->psql("UPDATE users SET is_active = false WHERE user_name = 'member2'");
$r = login('member2', 'demo');
$t->problem_ok($r, 401, 'inactive user, right password: 401');

$r = $t->http(POST => '/api/auth/token', body => '{"username":"admin"}',
    headers => { 'Content-Type' => 'application/json' });
$t->problem_ok($r, 415, 'JSON body: 415');

# Throttling: login_max_failures (5) failures, then 429 even with the right
# password, for that user name in any case, until the lockout ends.
for my $i (1 .. 5) {
    $r = login('tech2', "wrong$i");
    is $r->{status}, 401, "tech2 failure $i: 401";
}
$r = login('tech2', 'demo');
$t->problem_ok($r, 429, 'after 5 failures, the right password: 429');
like $r->{headers}{'retry-after'} // '', qr/^[1-9]\d*$/,
    '429 carries Retry-After';
$r = login('TECH2', 'demo');
is $r->{status}, 429, 'TECH2: 429 too';
$r = login('admin', 'demo');
is $r->{status}, 200, 'another user is not throttled';
my $jwt2 = $t->token('tech2');
is $t->http(GET => '/api/TicketsApi/1', token => $jwt2)->{status}, 200,
    'a valid token of the throttled user still works';

for my $i (1 .. 5) {
    login('nobody-at-all', 'x');
}
$r = login('nobody-at-all', 'x');
is $r->{status}, 429, 'an unknown user name is throttled as well';

sleep 2.2;
$r = login('tech2', 'demo');
is $r->{status}, 200, 'after login_lockout_seconds: 200';

done_testing;
