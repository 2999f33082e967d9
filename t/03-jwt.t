#!/usr/bin/perl

# Bearer tokens: every cause of 401 answers with WWW-Authenticate
# Bearer error="invalid_token" (SPEC 2), and the leeway of 60 s.

use strict;
use warnings;
use utf8;

use Test::More;
use Tickets::Test qw();

my $t = Tickets::Test->new(issuer => 'ngx_tickets',
    audience => 'ngx_tickets_api')->run;
my $now = time;

sub get_with {
    my ($auth) = @_;
    return $t->http(GET => '/api/TicketsApi/1',
        headers => { defined $auth ? (Authorization => $auth) : () });
}

sub accepted {
    my ($auth, $name) = @_;
    my $r = get_with($auth);
    is $r->{status}, 200, "$name: 200"
        or diag substr $r->{content} // '', 0, 300;
}

sub refused {
    my ($auth, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = get_with($auth);
    $t->problem_ok($r, 401, "$name: 401 problem");
    like $r->{headers}{'www-authenticate'} // '',
        qr/^Bearer\b.*\berror="invalid_token"/, "$name: WWW-Authenticate";
}

my $good = $t->token('admin');
accepted("Bearer $good", 'a valid token');

# The header.
refused(undef, 'no Authorization');
refused('Basic YWRtaW46ZGVtbw==', 'Basic credentials');
refused("Token $good", 'another scheme');
refused('Bearer', 'Bearer without a token');
refused('Bearer ', 'Bearer and a space');
refused("Bearer $good extra", 'Bearer with two words');

# Malformed tokens.
my ($h, $p, $s) = split /\./, $good;
refused('Bearer abc', 'one segment');
refused("Bearer $h.$p", 'two segments');
refused("Bearer $h.$p.$s.$s", 'four segments');
refused("Bearer $h.$p.$s=", 'padded signature');
refused('Bearer !!!.@@@.###', 'outside the base64url alphabet');
refused('Bearer ' . ('A' x 4000), 'a long garbage token');
my $notjson = Tickets::Test::b64url('{"alg":"HS256"');
refused("Bearer $notjson.$p.$s", 'header not JSON');
{
    my $in = $h . '.' . Tickets::Test::b64url('not json');
    my $sig = Tickets::Test::b64url(
        Digest::SHA::hmac_sha256($in, $t->secret));
    refused("Bearer $in.$sig", 'well signed payload not JSON');
}

# Signatures and algorithms.
refused('Bearer ' . $t->token('admin', secret => 'x' x 48),
    'signed with another secret');
{
    my $other = $t->token('member1');
    my (undef, $p2) = split /\./, $other;
    refused("Bearer $h.$p2.$s", 'payload swapped under a signature');
    (my $bad = $s) =~ tr/A-Za-z/B-ZAb-za/;
    refused("Bearer $h.$p.$bad", 'signature altered');
}
for my $alg (qw(none None NONE)) {
    refused('Bearer ' . $t->token('admin', header => { alg => $alg }),
        "alg $alg, no signature");
}
{
    my $none = $t->token('admin', header => { alg => 'none' });
    my ($nh, $np) = split /\./, $none;
    my $sig = Tickets::Test::b64url(
        Digest::SHA::hmac_sha256("$nh.$np", $t->secret));
    refused("Bearer $nh.$np.$sig", 'alg none with an HS256 signature');
}
refused('Bearer ' . $t->token('admin', header => { alg => 'HS384' }),
    'HS384 with the secret');
refused('Bearer ' . $t->token('admin', header => { alg => 'HS512' }),
    'HS512 with the secret');
refused('Bearer ' . $t->token('admin', header => { alg => 'RS256' }),
    'RS256 header, HMAC signature');
refused('Bearer ' . $t->token('admin', header => { alg => undef }),
    'no alg');

# Time: 60 s leeway on exp and nbf.
refused('Bearer ' . $t->token('admin', exp => $now - 120),
    'expired 120 s ago');
accepted('Bearer ' . $t->token('admin', exp => $now - 30),
    'expired 30 s ago, within the leeway');
refused('Bearer ' . $t->token('admin', nbf => $now + 120),
    'nbf in 120 s');
accepted('Bearer ' . $t->token('admin', nbf => $now + 30),
    'nbf in 30 s, within the leeway');
refused('Bearer ' . $t->token('admin', exp => 'tomorrow'), 'exp a string');

# Issuer and audience, both configured here.
refused('Bearer ' . $t->token('admin', iss => 'someone-else'), 'wrong iss');
refused('Bearer ' . $t->token('admin', iss => undef), 'no iss');
refused('Bearer ' . $t->token('admin', aud => 'another-api'), 'wrong aud');
refused('Bearer ' . $t->token('admin', aud => undef), 'no aud');

# The subject must be an existing, active user.
refused('Bearer ' . $t->token('admin', sub => undef), 'no sub');
refused('Bearer ' . $t->token('admin', sub => 'no-such-user'), 'unknown sub');
refused('Bearer ' . $t->token('admin', sub => ''), 'empty sub');

$t->ctl_ok(qw(user add leaver --email leaver@example.com --name),
    'Lee Leaver', qw(--role Technician --password), 'leaver-password');
my $leaver = $t->token('leaver');
accepted("Bearer $leaver", 'a new user');
$t->psql("DELETE FROM users WHERE user_name = 'leaver'");
refused("Bearer $leaver", 'the user was deleted');

my $tech3 = $t->token('tech3');
accepted("Bearer $tech3", 'tech3');
$t->psql("UPDATE users SET is_active = false WHERE user_name = 'tech3'");
refused("Bearer $tech3", 'the user is inactive');
$t->psql("UPDATE users SET is_active = true WHERE user_name = 'tech3'");
accepted("Bearer $tech3", 'the user is active again');

# RFC 7235: the scheme is case-insensitive.
accepted("bearer $good", 'scheme in lower case');

done_testing;
