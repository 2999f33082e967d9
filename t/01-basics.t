#!/usr/bin/perl

# Health, routing, methods and X-Request-Id (SPEC 1, 3 "Beyond the seed").

use strict;
use warnings;
use utf8;

use Test::More;
use Tickets::Test;

my $t = Tickets::Test->new->run;
my $admin = $t->token('admin');
my ($version) = Tickets::Test::_slurp(Tickets::Test->root . "/VERSION") =~ /(\S+)/;

# Health needs no token.
my $r = $t->http(GET => '/api/health');
is $r->{status}, 200, 'health: 200';
like $r->{headers}{'content-type'}, qr{^application/json;\s*charset=utf-8$}i,
    'health: application/json; charset=utf-8';
is_deeply $r->{json}, { status => 'ok', version => $version },
    'health: {"status":"ok","version":VERSION}';

# X-Request-Id: generated when absent, echoed when sent, on every response.
my $id1 = $r->{headers}{'x-request-id'};
like $id1, qr/^[\x21-\x7e]{8,}$/, 'X-Request-Id generated';
my $id2 = $t->http(GET => '/api/health')->{headers}{'x-request-id'};
ok defined $id2 && $id2 ne $id1, 'a new X-Request-Id per request';
$r = $t->http(GET => '/api/health',
    headers => { 'X-Request-Id' => 'client-id-42' });
is $r->{headers}{'x-request-id'}, 'client-id-42', 'X-Request-Id echoed';
$r = $t->http(GET => '/api/nope', token => $admin,
    headers => { 'X-Request-Id' => 'client-id-43' });
is $r->{headers}{'x-request-id'}, 'client-id-43', 'echoed on an error too';
$r = $t->http(GET => '/api/TicketsApi/1');
is $r->{status}, 401, 'no token: 401';
ok $r->{headers}{'x-request-id'}, 'X-Request-Id on a 401';

# ... and in the logs: the access log's $tickets_request_id, the module's
# own error-log lines.
$r = $t->http(GET => '/api/TicketsApi/1',
    headers => { 'X-Request-Id' => 'client-id-44' });
is $r->{status}, 401, 'a 401 with an X-Request-Id';
my $access = '';
for (1 .. 20) {
    $access = Tickets::Test::_slurp($t->dir . '/access.log');
    last if $access =~ /client-id-44/;
    select undef, undef, undef, 0.1;
}
like $access, qr{"GET /api/health HTTP/1\.1" 200 .* rid=client-id-42$}m,
    'the access log carries the request id';
like $access, qr{ 401 .* rid=client-id-44$}m, 'also of a 401';
like $t->error_log, qr/tickets: 401 .*request id client-id-44/,
    'the error log names the request id';

# Routes are case-insensitive, the API prefix too (location ~* ^/api/).
for my $path ('/api/ticketsapi/1', '/api/TICKETSAPI/1', '/api/TicketsApi/1',
              '/api/TicketsApi/1?unused=1', '/API/TicketsApi/1',
              '/Api/ticketsAPI/1/')
{
    $r = $t->http(GET => $path, token => $admin);
    is $r->{status}, 200, "GET $path: 200";
    is $r->{json}{id}, 1, "GET $path: ticket 1";
}
is $t->http(GET => '/api/HEALTH')->{status}, 200, 'GET /api/HEALTH: 200';
is $t->http(GET => '/api/ticketsapi/APPMETADATA', token => $admin)->{status},
    200, 'GET /api/ticketsapi/APPMETADATA: 200';
is $t->http(GET => '/API/TICKETSAPI/appmetadata', token => $admin)->{status},
    200, 'GET /API/TICKETSAPI/appmetadata: 200';

# Unknown routes: 404 problem.
for my $path ('/api/nope', '/api/', '/api/TicketsApi/1/nope',
              '/api/TicketsApi/register/1', '/api/TicketsApiX/1',
              '/api/TicketsApi/metadata/1/2', '/api/healthz', '/API/nope',
              '/API/', '/aPI/TicketsApi/1/nope')
{
    $r = $t->http(GET => $path, token => $admin);
    $t->problem_ok($r, 404, "GET $path: 404 problem");
}

# Known routes, other methods: 405 problem with Allow.
for my $case (['PUT', '/api/TicketsApi/1', 'GET'],
              ['PATCH', '/api/TicketsApi/1', 'GET'],
              ['GET', '/api/TicketsApi/register', 'POST'],
              ['DELETE', '/api/TicketsApi/register', 'POST'],
              ['POST', '/api/health', 'GET'],
              ['GET', '/api/auth/token', 'POST'],
              ['POST', '/api/TicketsApi/appmetadata', 'GET'],
              ['PUT', '/api/TicketsApi/metadata/1', 'GET'])
{
    my ($method, $path, $allowed) = @$case;
    $r = $t->http($method => $path, token => $admin, body => '',
        headers => { 'Content-Type' => 'application/x-www-form-urlencoded' });
    $t->problem_ok($r, 405, "$method $path: 405 problem");
    my $allow = $r->{headers}{allow} // '';
    like $allow, qr/\b$allowed\b/, "$method $path: Allow names $allowed";
    unlike $allow, qr/\b$method\b/, "$method $path: Allow omits $method";
}

done_testing;
