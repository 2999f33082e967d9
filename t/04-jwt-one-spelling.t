#!/usr/bin/perl

# A token has one spelling: for HS256, RS256 and ES256, every other last
# character of the signature (libjwt 1.10 ignores its unused low bits, a
# fuzzing finding), of the header and of the payload is a 401, and so are
# padding and a character more or less (docs/reliability.md).

use strict;
use warnings;
use utf8;

use Test::More;
use Tickets::Test;

my $t = Tickets::Test->new;
my $dir = $t->dir;
my @b64url = ('A' .. 'Z', 'a' .. 'z', '0' .. '9', '-', '_');

sub file {
    my ($name, $data) = @_;
    Tickets::Test::_spew("$dir/$name", $data, 0600);
    return "$dir/$name";
}

sub openssl {
    my ($rc, $out, $err) = Tickets::Test::run_cmd(['openssl', @_]);
    die "openssl @_: $err" if $rc;
    return $out;
}

sub status_of {
    my ($jwt) = @_;
    return $t->http(GET => '/api/TicketsApi/1', token => $jwt)->{status};
}

# The statuses of every other last character of segment $seg, by status.
sub alterations {
    my ($jwt, $seg) = @_;
    my @parts = split /\./, $jwt, -1;
    my $last = chop $parts[$seg];
    my %by;
    for my $c (grep { $_ ne $last } @b64url) {
        my @p = @parts;
        $p[$seg] .= $c;
        push @{$by{status_of(join '.', @p)}}, $c;
    }
    return \%by;
}

sub one_spelling {
    my ($alg, $jwt) = @_;
    is status_of($jwt), 200, "$alg: the token itself: 200";
    for my $seg (0 .. 2) {
        my $name = (qw(header payload signature))[$seg];
        my $by = alterations($jwt, $seg);
        is_deeply [keys %$by], [401],
            "$alg: all 63 other last characters of the $name: 401"
            or diag explain $by;
    }
    is status_of("$jwt="), 401, "$alg: padded: 401";
    is status_of("${jwt}A"), 401, "$alg: a character more: 401";
    is status_of(substr $jwt, 0, -1), 401, "$alg: a character less: 401";
}

sub login {
    my $r = $t->form_post('/api/auth/token',
        [username => 'admin', password => 'demo']);
    return $r->{json}{access_token} // '';
}

sub keys_conf {
    my ($alg, $key, $signing) = @_;
    return "    tickets_jwt_key $alg $key;\n"
        . "    tickets_jwt_signing_key $signing;\n"
        . "    tickets_token_lifetime 1h;\n";
}

$t->run;
one_spelling('HS256', $t->token('admin'));
$t->stop_nginx;

openssl(qw(genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out),
    "$dir/rsa.pem");
openssl('pkey', '-in', "$dir/rsa.pem", '-pubout', '-out', "$dir/rsa.pub");
openssl(qw(genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out),
    "$dir/ec.pem");
openssl('pkey', '-in', "$dir/ec.pem", '-pubout', '-out', "$dir/ec.pub");

$t->run(tickets_conf => keys_conf(RS256 => "$dir/rsa.pub", "$dir/rsa.pem"));
one_spelling('RS256', login());
$t->stop_nginx;

$t->run(tickets_conf => keys_conf(ES256 => "$dir/ec.pub", "$dir/ec.pem"));
one_spelling('ES256', login());
$t->stop_nginx;

done_testing;
