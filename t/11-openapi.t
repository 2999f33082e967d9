#!/usr/bin/perl
# The OpenAPI document (docs/openapi.yaml): valid OpenAPI 3.1, the module's
# routes exactly, served at GET /api/openapi.json; and the check every
# response of the suite goes through (Tickets::OpenAPI) fails when a
# response does not fit.

use strict;
use warnings;

use lib 't/lib';

use File::Temp ();
use JSON::PP;
use Test::More;
use Tickets::OpenAPI;
use Tickets::Test;
use YAML::XS ();

$YAML::XS::Boolean = 'JSON::PP';

my $ROOT = Tickets::Test->root;
my $JSON = JSON::PP->new->utf8->canonical;

my $yaml = YAML::XS::LoadFile("$ROOT/docs/openapi.yaml");
my $oa = Tickets::OpenAPI->new("$ROOT/build/openapi.json");
my $doc = $oa->doc;

# The build's JSON is the YAML of now (make regenerates it).
is_deeply($doc, $yaml, 'build/openapi.json is docs/openapi.yaml')
    or diag('run make: build/openapi.json is older than docs/openapi.yaml');

# --- the document is OpenAPI 3.1 ------------------------------------------

{
    my $meta = YAML::XS::LoadFile("$ROOT/t/openapi-3.1.schema.yaml");
    my $v = JSON::Validator::Schema::Draft201909->new($meta);
    my @e = $v->validate($doc);
    ok(!@e, 'valid against the OpenAPI 3.1 schema of t/')
        or diag(join "\n", map { "$_" } @e[0 .. ($#e > 20 ? 20 : $#e)]);

    # the meta-schema catches what it should
    my $bad = $JSON->decode($JSON->encode($doc));
    $bad->{openapi} = '3.0.3';
    $bad->{paths}{'/api/health'}{get}{responses}{'200'}{descripton} = 'x';
    delete $bad->{paths}{'/api/health'}{get}{responses}{'200'}{description};
    $bad->{components}{schemas}{Problem}{requried} = ['type'];
    $bad->{paths}{'/api/TicketsApi/{id}'}{parameters} = [{ name => 'id',
        in => 'path', schema => { type => 'integer' } }];
    my %want = map { $_ => 1 } '/openapi',
        '/paths/~1api~1health/get/responses/200',
        '/components/schemas/Problem',
        '/paths/~1api~1TicketsApi~1{id}/parameters/0';
    my %got;
    for my $e ($v->validate($bad)) {
        $got{$_} = 1 for grep { index($e->path, $_) == 0 } keys %want;
    }
    is_deeply(\%got, \%want, 'the meta-schema refuses a 3.0 version, a'
        . ' misspelt field, an unknown schema keyword, an optional path'
        . ' parameter') or diag(join "\n", map { "$_" } $v->validate($bad));
}

# Each Schema Object against the JSON Schema 2020-12 meta-schema that
# Debian's python3-jsonschema ships (the dialect of OpenAPI 3.1).
SKIP: {
    my ($rc) = Tickets::Test::run_cmd(['/usr/bin/python3', '-c',
        'import jsonschema; jsonschema.Draft202012Validator']);
    skip 'python3-jsonschema with draft 2020-12 is not installed', 1 if $rc;
    my ($rc2, $out, $err) = Tickets::Test::run_cmd(['/usr/bin/python3', '-c',
        <<'PY', "$ROOT/build/openapi.json"]);
import json, sys, jsonschema
doc = json.load(open(sys.argv[1]))
n, bad = 0, []
def walk(node, at):
    global n
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "schema" or at.endswith("/components/schemas"):
                n += 1
                try:
                    jsonschema.Draft202012Validator.check_schema(v)
                except jsonschema.SchemaError as e:
                    bad.append(at + "/" + k + ": " + e.message)
            walk(v, at + "/" + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, at + "/" + str(i))
walk(doc, "#")
print(n, "schemas")
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
PY
    ok(!$rc2 && $out =~ /^(\d+) schemas/ && $1 > 100,
        "every schema is valid JSON Schema 2020-12 (python3-jsonschema): "
        . ($out =~ /^(\d+ schemas)/ ? $1 : 'none')) or diag("$out$err");
}

# What a schema cannot say.
{
    my (@unresolved, %ids, @dup, @params, @no_rid);
    my $walk;
    $walk = sub {
        my ($node, $at) = @_;
        if (ref $node eq 'HASH') {
            if (defined $node->{'$ref'} && !ref $node->{'$ref'}) {
                push @unresolved, "$at: $node->{'$ref'}"
                    unless eval { $oa->deref({ '$ref' => $node->{'$ref'} }) };
            }
            $walk->($node->{$_}, "$at/$_") for keys %$node;
        } elsif (ref $node eq 'ARRAY') {
            $walk->($node->[$_], "$at/$_") for 0 .. $#$node;
        }
    };
    $walk->($doc, '#');
    is_deeply(\@unresolved, [], 'every $ref resolves');

    for my $path (sort keys %{$doc->{paths}}) {
        my $item = $doc->{paths}{$path};
        for my $m (grep { $item->{$_} } qw(get put post delete head patch)) {
            my $op = $item->{$m};
            my $id = $op->{operationId} // "(none at $m $path)";
            push @dup, $id if $ids{$id}++ || !$op->{operationId};
            my %declared = map { $_->{name} => 1 }
                grep { $_->{in} eq 'path' }
                map { $oa->deref($_) }
                @{$item->{parameters} // []}, @{$op->{parameters} // []};
            my @tmpl = $path =~ /\{([^}]+)\}/g;
            push @params, "$m $path" unless join(',', sort @tmpl)
                eq join(',', sort keys %declared);
            for my $st (sort keys %{$op->{responses}}) {
                my $resp = $oa->deref($op->{responses}{$st});
                my $h = $resp->{headers}{'X-Request-Id'};
                push @no_rid, "$m $path $st"
                    unless $h && $oa->deref($h)->{required};
            }
        }
    }
    is_deeply(\@dup, [], 'every operation has an operationId of its own');
    is_deeply(\@params, [], 'path parameters are those of the template');
    is_deeply(\@no_rid, [], 'every response declares X-Request-Id');
}

# The paths are the module's routes, each with its methods.
{
    open my $fh, '<', "$ROOT/ngx_http_tickets_module/ngx_http_tickets_module.c"
        or die $!;
    my $c = do { local $/; <$fh> };
    my %routes;
    while ($c =~ /NGX_HTTP_TICKETS_R\("([^"]+)",\s*([A-Z_|]+),/g) {
        my ($p, $m) = ($1, $2);
        $p =~ s/\{[^}]+\}/{}/g;
        $routes{"$p $_"} = 1 for map { /GET/ ? 'get' : /POST/ ? 'post'
            : /DELETE/ ? 'delete' : /PATCH/ ? 'patch' : "?$_" }
            split /\|/, $m;
    }
    my %documented;
    for my $path (keys %{$doc->{paths}}) {
        (my $p = $path) =~ s/\{[^}]+\}/{}/g;
        $documented{"$p $_"} = 1
            for grep { $doc->{paths}{$path}{$_} }
                qw(get put post delete patch);
    }
    ok(keys %routes > 20, 'the route table is read');
    # the close link's POST is the confirm change of another branch
    delete $documented{'/api/TicketsApi/confirm/{} post'}
        unless $routes{'/api/TicketsApi/confirm/{} post'};
    is_deeply([sort keys %documented], [sort keys %routes],
        'every route of the module is documented, and nothing else');
}

# Every operation says what it needs.
{
    my @missing;
    for my $path (sort keys %{$doc->{paths}}) {
        for my $m (qw(get post delete)) {
            my $op = $doc->{paths}{$path}{$m} or next;
            my $sec = $op->{security} // $doc->{security};
            push @missing, "$m $path" unless ref $sec eq 'ARRAY'
                && (!@$sec || exists $op->{'x-permission'}
                    || $m eq 'get');
        }
    }
    is_deeply(\@missing, [], 'every write names its permission'
        . ' (x-permission, null for none)');
}

# --- served by the module -------------------------------------------------

my $t = Tickets::Test->new->run;

my $r = $t->http(GET => '/api/openapi.json');
is($r->{status}, 200, 'GET /api/openapi.json without a token: 200');
like($r->{headers}{'content-type'}, qr{^application/json}, 'as JSON');
my $served = $r->{json};
is($served->{servers}[0]{url}, 'http://127.0.0.1:' . $t->port,
    'servers: the scheme and Host of the request');
{
    my %a = %$served;
    my %b = %$doc;
    delete $a{servers};
    delete $b{servers};
    is_deeply(\%a, \%b, 'the document of the build, but for servers');
}
my $etag = $r->{headers}{etag};
like($etag, qr/^"[0-9a-f]{16}-[0-9a-f]{8}"$/, 'a strong ETag');
is($r->{headers}{'cache-control'}, 'no-cache', 'Cache-Control: no-cache');

$r = $t->http(GET => '/api/openapi.json',
    headers => { 'If-None-Match' => $etag });
is($r->{status}, 304, 'If-None-Match: 304');
$r = $t->http(HEAD => '/api/OpenAPI.JSON');
is($r->{status}, 200, 'HEAD, in another case: 200');
is($r->{content} // '', '', 'without a body');

$t->run(http_extra => "    tickets_openapi_server_url https://help.example.com/;\n");
$r = $t->http(GET => '/api/openapi.json');
is($r->{json}{servers}[0]{url}, 'https://help.example.com',
    'servers: tickets_openapi_server_url');
isnt($r->{headers}{etag}, $etag, 'another ETag for another server URL');

$t->run(http_extra => "    tickets_openapi off;\n");
$r = $t->http(GET => '/api/openapi.json');
$t->problem_ok($r, 404, 'tickets_openapi off: 404 problem+json');

$t->run(http_extra => '');

# --- the check fails when a response does not fit -------------------------

my $admin = $t->token('admin');
my $ok = $t->http(GET => '/api/openapi.json', openapi => 0);
my $gone = $t->http(GET => '/api/TicketsApi/424242', token => $admin);
is($gone->{status}, 404, 'an unknown ticket: 404');

my @e;
(undef, @e) = $oa->check(GET => '/api/TicketsApi/424242', $gone);
is_deeply(\@e, [], 'the document of the build accepts it');

{
    my $broken = $JSON->decode($JSON->encode($doc));
    # a field of the wrong type, a status that is not declared
    $broken->{components}{schemas}{Problem}{properties}{traceId}{type}
        = 'integer';
    delete $broken->{paths}{'/api/openapi.json'}{get}{responses}{'200'};
    my $b = Tickets::OpenAPI->from_data($broken);

    (undef, @e) = $b->check(GET => '/api/TicketsApi/424242', $gone);
    ok((grep { m{^/traceId: .*Expected integer - got string} } @e),
        'a body of the wrong type fails') or diag(explain \@e);
    my $op;
    ($op, @e) = $b->check(GET => '/api/openapi.json', $ok);
    like($op, qr/^getOpenApi /, 'named by its operation');
    ok((grep { /status 200 is not declared/ } @e),
        'an undeclared status fails') or diag(explain \@e);

    (undef, @e) = $oa->check(GET => '/api/openapi.json',
        { %$ok, headers => { %{$ok->{headers}}, 'x-request-id' => undef } });
    ok((grep { /no X-Request-Id header/ } @e),
        'a missing required header fails') or diag(explain \@e);

    (undef, @e) = $oa->check(GET => '/api/TicketsApi/424242',
        { %$gone, headers => { %{$gone->{headers}},
            'content-type' => 'text/plain' } });
    ok((grep { /content type 'text\/plain' is not declared/ } @e),
        'an undeclared content type fails') or diag(explain \@e);

    (undef, @e) = $oa->check(POST => '/api/TicketsApi/7', $gone);
    ok((grep { /want 405/ } @e), 'a path without the method must be 405');

    # and through the harness, in a process of its own: a failed test
    my $file = File::Temp->new(SUFFIX => '.json');
    print $file $JSON->encode($broken);
    close $file;
    my $script = File::Temp->new(SUFFIX => '.pl');
    print $script <<'EOF';
use strict;
use warnings;
use Test::More;
use Tickets::Test;
# the parent's nginx: an instance that starts nothing
my $t = bless { port => $ARGV[0], owner => $$, dir => File::Temp::tempdir(
    CLEANUP => 1), ua => HTTP::Tiny->new(keep_alive => 0) }, 'Tickets::Test';
my $r = $t->http(GET => '/api/openapi.json');
is($r->{status}, 200, 'got the document');
done_testing;
EOF
    close $script;
    my ($rc, $out, $err) = Tickets::Test::run_cmd([$^X, "-I$ROOT/t/lib",
        $script->filename, $t->port],
        env => { TEST_OPENAPI_DOC => $file->filename, TEST_OPENAPI => 1 });
    isnt($rc, 0, 'the harness fails a test file whose response does not fit');
    ok(index($out, 'not ok 1 - OpenAPI: getOpenApi (GET /api/openapi.json)'
        . ' answered 200: status 200 is not declared') >= 0,
        'with a failed test naming the operation, status and error')
        or diag("$out\n$err");
}

done_testing;
