#!/usr/bin/perl

# Key configuration: nginx -t refuses bad keys, saying why; RS256 and ES256
# keys verify tokens of an external identity provider and sign logins,
# and no other algorithm gets through (SPEC 2).

use strict;
use warnings;
use utf8;

use Test::More;
use Tickets::Test;

my $t = Tickets::Test->new;
my $dir = $t->dir;

sub file {
    my ($name, $data) = @_;
    Tickets::Test::_spew("$dir/$name", $data, 0600);
    return "$dir/$name";
}

sub keys_conf {
    my ($alg, $key, $signing) = @_;
    return "    tickets_jwt_key $alg $key;\n"
        . ($signing ? "    tickets_jwt_signing_key $signing;\n" : '')
        . "    tickets_token_lifetime 1h;\n";
}

sub conf_fails {
    my ($conf, $why, $name) = @_;
    my ($ok, $out) = $t->nginx_t(tickets_conf => $conf);
    ok !$ok, "nginx -t fails: $name";
    like $out, $why, "nginx -t says why: $name";
}

sub conf_ok {
    my ($conf, $name) = @_;
    my ($ok, $out) = $t->nginx_t(tickets_conf => $conf);
    ok $ok, "nginx -t accepts $name" or diag $out;
}

my $short = qr/32|short|length|bytes/i;
conf_fails(keys_conf(HS256 => file('s31', 'a' x 31)), $short,
    '31-byte secret');
conf_fails(keys_conf(HS256 => file('s31nl', ('a' x 31) . "\n")), $short,
    '31 bytes and a newline');
conf_fails(keys_conf(HS256 => file('empty', '')), qr/empty|$short/,
    'empty secret');
conf_fails(keys_conf(HS256 => "$dir/missing.secret"),
    qr/missing\.secret|No such file/, 'missing key file');
conf_fails(keys_conf(HS384 => file('s48', 'b' x 48)),
    qr/HS384|alg|algorithm/i, 'alg HS384');
conf_fails(keys_conf(none => file('s48', 'b' x 48)),
    qr/none|alg|algorithm/i, 'alg none');
conf_ok(keys_conf(HS256 => file('s32', 'c' x 32)), 'a 32-byte secret');
conf_ok(keys_conf(HS256 => file('s32nl', ('c' x 32) . "\n")),
    'a 32-byte secret and a newline');

SKIP: {
    my ($rc) = Tickets::Test::run_cmd(['openssl', 'version']);
    skip 'no openssl command', 1 if $rc;

    openssl(qw(genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out),
        "$dir/rsa.pem");
    openssl('pkey', '-in', "$dir/rsa.pem", '-pubout', '-out', "$dir/rsa.pub");
    openssl(qw(genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out),
        "$dir/rsa2.pem");
    openssl(qw(genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out),
        "$dir/ec.pem");
    openssl('pkey', '-in', "$dir/ec.pem", '-pubout', '-out', "$dir/ec.pub");

    conf_fails(keys_conf(RS256 => $t->secret_file), qr/PEM|key|RS256/i,
        'RS256 with an HS256 secret');
    conf_fails(keys_conf(RS256 => "$dir/ec.pub"), qr/RS256|RSA|key/i,
        'RS256 with an EC key');
    conf_fails(keys_conf(RS256 => "$dir/rsa.pub", "$dir/rsa.pub"),
        qr/private|key/i, 'RS256 signing with a public key');
    conf_ok(keys_conf(RS256 => "$dir/rsa.pub"), 'an RS256 public key');

    # RS256: logins are signed with the private key, external tokens
    # verified with the public one.
    $t->run(tickets_conf => keys_conf(RS256 => "$dir/rsa.pub",
        "$dir/rsa.pem"));
    login_ok('RS256', 256);
    accepted(signed('RS256', "$dir/rsa.pem"), 'RS256, external token');
    refused(signed('RS256', "$dir/rsa2.pem"), 'RS256, another key');
    refused($t->token('admin', secret => Tickets::Test::_slurp(
        "$dir/rsa.pub")), 'HS256 signed with the public key');
    refused($t->token('admin'), 'HS256 signed with the old secret');
    refused($t->token('admin', header => { alg => 'none' }), 'alg none');
    refused(signed('ES256', "$dir/ec.pem"), 'ES256 on an RS256 service');
    my $tok = signed('RS256', "$dir/rsa.pem");
    my ($h, $p, $s) = split /\./, $tok;
    my (undef, $p2) = split /\./, $t->token('member1');
    refused("$h.$p2.$s", 'RS256, payload swapped');
    $t->stop_nginx;

    # ES256: JWS signatures are r || s, 64 bytes, not DER.
    $t->run(tickets_conf => keys_conf(ES256 => "$dir/ec.pub", "$dir/ec.pem"));
    login_ok('ES256', 64);
    accepted(signed('ES256', "$dir/ec.pem"), 'ES256, external token');
    refused(signed('ES256', "$dir/ec.pem", 'der'), 'ES256, DER signature');
    refused(signed('RS256', "$dir/rsa.pem"), 'RS256 on an ES256 service');
    refused($t->token('admin', secret => Tickets::Test::_slurp(
        "$dir/ec.pub")), 'HS256 signed with the public key');
    refused($t->token('admin', header => { alg => 'none' }), 'alg none');
}

sub openssl {
    my ($rc, $out, $err) = Tickets::Test::run_cmd(['openssl', @_]);
    die "openssl @_: $err" if $rc;
    return $out;
}

# A token of admin signed with a PEM private key by the openssl command.
sub signed {
    my ($alg, $key, $der) = @_;
    my ($h, $p) = split /\./, $t->token('admin', header => { alg => $alg });
    my $in = file('signing-input', "$h.$p");
    my $sig = openssl('dgst', '-sha256', '-sign', $key, $in);
    $sig = der_to_raw($sig) if $alg eq 'ES256' && !$der;
    return "$h.$p." . Tickets::Test::b64url($sig);
}

# ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } -> r || s
sub der_to_raw {
    my ($der) = @_;
    my @b = unpack 'C*', $der;
    my $pos = 2 + ($b[1] & 0x80 ? $b[1] & 0x7f : 0);
    my $raw = '';
    for (1 .. 2) {
        die "not DER" unless $b[$pos] == 2;
        my $n = substr $der, $pos + 2, $b[$pos + 1];
        $n =~ s/^\x00+//;
        $raw .= ("\x00" x (32 - length $n)) . $n;
        $pos += 2 + $b[$pos + 1];
    }
    return $raw;
}

sub login_ok {
    my ($alg, $siglen) = @_;
    my $r = $t->form_post('/api/auth/token',
        [username => 'admin', password => 'demo']);
    is $r->{status}, 200, "$alg: login 200";
    my $jwt = $r->{json}{access_token} // '';
    is(($t->jwt_header($jwt) // {})->{alg}, $alg, "$alg: the token's alg");
    my $sig = (split /\./, $jwt)[2] // '';
    $sig =~ tr{-_}{+/};
    $sig .= '=' x (-length($sig) % 4);
    is length(MIME::Base64::decode_base64($sig)), $siglen,
        "$alg: a $siglen-byte signature";
    accepted($jwt, "$alg: the issued token");
}

sub accepted {
    my ($jwt, $name) = @_;
    my $r = $t->http(GET => '/api/TicketsApi/1', token => $jwt);
    is $r->{status}, 200, "$name: 200" or diag $r->{content};
}

sub refused {
    my ($jwt, $name) = @_;
    my $r = $t->http(GET => '/api/TicketsApi/1', token => $jwt);
    $t->problem_ok($r, 401, "$name: 401");
    like $r->{headers}{'www-authenticate'} // '',
        qr/^Bearer\b.*\berror="invalid_token"/, "$name: WWW-Authenticate";
}

done_testing;
